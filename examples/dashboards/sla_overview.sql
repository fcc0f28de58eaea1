-- SLA attainment by policy, priority and group (seed 003: dashboards/sla_overview.sql).
-- SLA instances started since $since; attainment = met / (met + breached + active_breached),
-- the definition of docs/metrics.md. Run it: deskpulse sql examples/dashboards/sla_overview.sql
--   --param since=2026-10-01   (every tenant table is scoped to --tenant by construction)
SELECT
    s.policy,
    t.priority,
    t."group",
    s.metric,
    count(*) AS instances,
    sum(CASE WHEN s.status = 'met' THEN 1 ELSE 0 END) AS met,
    sum(CASE WHEN s.status IN ('breached', 'active_breached') THEN 1 ELSE 0 END) AS breached,
    sum(CASE WHEN s.status IN ('active', 'paused') THEN 1 ELSE 0 END) AS running,
    round(
        100.0 * sum(CASE WHEN s.status = 'met' THEN 1 ELSE 0 END)
        / nullif(sum(CASE WHEN s.status IN ('met', 'breached', 'active_breached') THEN 1 ELSE 0 END), 0),
        1
    ) AS attainment_pct
FROM ticket_sla AS s
JOIN tickets AS t ON t.ticket_id = s.ticket_id
WHERE s.started_at >= CAST($since AS TIMESTAMP) AND t.deleted_at IS NULL
GROUP BY s.policy, t.priority, t."group", s.metric
ORDER BY s.policy, t.priority, t."group", s.metric

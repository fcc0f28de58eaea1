-- Backlog burn-down per UTC day (seed 003: dashboards/backlog_burndown.sql): open tickets,
-- arrivals vs completions, net change, SLA debt and at-risk count, from backlog_daily (built
-- by `deskpulse build`). Run it: deskpulse sql examples/dashboards/backlog_burndown.sql
--   --param since=2026-10-01
SELECT
    b."date",
    b.open_count,
    b.arrivals,
    b.completions,
    b.arrivals - b.completions AS net_change,
    b.wip,
    b.gt_30d AS older_than_30d,
    CAST(b.sla_debt_minutes AS DECIMAL(18, 1)) AS sla_debt_minutes,
    b.at_risk_count
FROM backlog_daily AS b
WHERE b.dimension = 'all' AND b."date" >= CAST($since AS DATE)
ORDER BY b."date"

"""Reports: HTML/PDF/XLSX/CSV renderers, schedules, email and alerts (issue 9)."""

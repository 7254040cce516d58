"""Dagster definitions only (assets, partitions, checks, resources, jobs, schedules); no ML logic here."""

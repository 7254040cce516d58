"""What regenerates the benchmarks: a job over the per-run benchmark results, a nightly schedule that runs it
for every run (variant x seed), and an automation sensor that re-evaluates a run when its stage-3 checkpoint
changes and then rebuilds the tables and the report (their automation conditions are ``eager``)."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from orchestration.assets import benchmark_results, benchmark_tables, comparison_report, external_judgements, runs
from orchestration.partitions import run_of

NIGHTLY = "0 3 * * *"

benchmarks_job = define_asset_job(
    "regenerate_benchmarks", selection=AssetSelection.assets(benchmark_results, external_judgements),
    partitions_def=runs,
    description="Benchmark results of one variant and their external judgements (the schedule requests every "
                "variant).")
report_job = define_asset_job(
    "regenerate_report", selection=AssetSelection.assets(benchmark_tables, comparison_report),
    description="Tables 2-5 and the comparison report from the results there are; trains and evaluates nothing.")


@schedule(job=benchmarks_job, cron_schedule=NIGHTLY, default_status=DefaultScheduleStatus.RUNNING,
          description="Nightly: every variant's benchmark results (resumed, so unchanged checkpoints cost seconds); "
                      "the tables and the report follow through their automation conditions.")
def nightly_benchmarks(context: ScheduleEvaluationContext):
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%d")
    for key in runs.get_partition_keys():
        yield RunRequest(run_key=f"{stamp}-{run_of(key).name}", partition_key=key)


benchmarks_on_new_checkpoints = AutomationConditionSensorDefinition(
    "benchmarks_on_new_checkpoints", target=AssetSelection.assets(benchmark_results, external_judgements,
                                                                   benchmark_tables, comparison_report),
    default_status=DefaultSensorStatus.RUNNING,
    description="A new stage-3 checkpoint re-evaluates and re-judges its run; new results rebuild the tables and "
                "the report.")

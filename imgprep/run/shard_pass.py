"""The transform pass on a Dask cluster: every split as HDF5 shards, then the main file.

The cluster counterpart of ``transform_pass._Job.run``: the same plan, pipeline and error
policy, but each partition of files is written to its own shard by one Dask task
(``imgprep.run.shards``: layout, resuming, the virtual file), and the driver only collects
their summaries in input order and joins them. Kept apart from the local pass because it
shares none of its writer or batching code, only the plan and the report.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from imgprep.augment import recorded_columns
from imgprep.io.atomic import resolve_target
from imgprep.pixels import PixelKind
from imgprep.run.policy import ErrorPolicy
from imgprep.run.shards import (
    ShardSpec,
    SplitShards,
    collect_split,
    plan_shards,
    remove_stale,
    shard_folder,
    write_shard,
    write_virtual_file,
)
from imgprep.run.transform_plan import TransformPlan, TransformReport
from imgprep.transforms.pipeline import Pipeline


def run_sharded(
    plan: TransformPlan,
    pipeline: Pipeline,
    runner: Any,
    *,
    batch_size: int,
    policy: ErrorPolicy,
    expect: PixelKind | None,
) -> TransformReport:
    """Write every split of ``plan`` as shards on the cluster of ``runner`` (a
    ``DaskRunner``: shards are written by partitions), then the virtual main file."""
    request = plan.request
    assert request.output is not None
    target = os.path.abspath(resolve_target(request.output))  # a symbolic link: its target
    report = TransformReport(stats_source=plan.stats_source, stats=pipeline.stats)
    done: list[SplitShards] = []
    for ordinal, split in enumerate(plan.splits):
        items = split.discovery.items
        folder = shard_folder(target, split.name)
        augmented = ordinal in plan.augmented
        spec = ShardSpec(
            pipeline=pipeline.expecting(expect),
            plan=plan.split_plan(ordinal),
            shown=plan.shown(ordinal),
            columns=tuple(recorded_columns(plan.augment.settings)) if augmented else None,
            split=ordinal,
            labelled=split.discovery.labelled,
            path_bytes=items.longest_rel_bytes(),
            compression=request.compression,
            batch_size=batch_size,
        )
        tasks = plan_shards(
            items,
            spec,
            folder=folder,
            partition_files=runner.partition_files,
            order=split.order,
        )
        shards = SplitShards(split.name, folder)
        desc = f"transform {split.name}" if split.name else "transform"
        results = runner.map(write_shard, [(task,) for task in tasks], desc=desc)
        with contextlib.closing(results):  # at the first error, stop the queued work
            collect_split(shards, tasks, results, items, policy=policy)
        done.append(shards)
        key = split.name or ""
        report.written[key] = sum(result.rows for result in shards.results)
        report.skipped[key] = shards.skipped
        report.found[key] = len(items)
        report.reused += sum(result.reused for result in shards.results)
        report.shards += len(shards.results)
    write_virtual_file(
        target,
        done,
        plan.metadata(pipeline),
        absolute_sources=os.path.islink(request.output),
    )
    remove_stale(shard_folder(target, None), done)
    return report

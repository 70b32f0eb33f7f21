"""Run by ``torchrun --nproc-per-node 2`` in ``test_adapters.py``: each rank reads its part of
two epochs through ``torch_loader`` (2 workers) and writes the labels and row checksums it
saw to ``OUT.rank.npy``; the test checks the parts are disjoint, equal and cover the order."""

from __future__ import annotations

import os
import sys

import numpy as np
import torch.distributed as dist

from imgprep.data import torch_loader


def main(path: str, out: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    assert rank == int(os.environ["RANK"])
    loader = torch_loader(path, 4, 2, shuffle=True, seed=3, rank=rank, world_size=world,
                          multiprocessing_context="spawn")  # fmt: skip
    seen = []
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        sums = [x.sum(dim=(1, 2, 3)).numpy() for x, _ in loader]
        seen.append(np.concatenate(sums))
        dist.barrier()
    np.save(f"{out}.{rank}.npy", np.stack(seen))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

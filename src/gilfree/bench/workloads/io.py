"""The ``io`` workload: I/O-bound tasks, where threads win even with the GIL.

Each task waits on simulated network latency (``time.sleep``, which
releases the GIL) and then does a little Python work.  Serial code waits
for every task in turn; threads overlap the waits; processes overlap them
too but pay for start-up and pickling.
"""

import time

from .._core import Approach, Workload, register
from .._pools import process_map, thread_map


def fetch(i, latency):
    """A stand-in for an HTTP request: wait, then parse a small payload."""
    time.sleep(latency)
    return sum(range(i % 97))


def fetch_all(items, latency):
    return [fetch(i, latency) for i in items]


class IO(Workload):
    name = "io"
    title = "I/O-bound tasks"
    description = ("tasks that each wait (simulated latency, 50 ms) then parse a little: "
                   "serial vs threads vs processes")
    unit = "tasks"
    amdahl_applies = False
    amdahl_note = ("Amdahl's law does not apply: the tasks wait (simulated latency) rather "
                   "than compute, so more workers overlap more waits instead of dividing a "
                   "fixed amount of work")

    def params(self, quick):
        if quick:
            return {"tasks": 8, "latency_s": 0.02, "io_workers": 8}
        return {"tasks": 40, "latency_s": 0.05, "io_workers": 20}

    def summary(self, params):
        return f"{params['tasks']} tasks of {params['latency_s'] * 1e3:g} ms latency"

    def work(self, params, data):
        return params["tasks"]

    def setup(self, params):
        return list(range(params["tasks"])), params["latency_s"], params["io_workers"]

    def reference(self, data):
        items, _, _ = data
        return [sum(range(i % 97)) for i in items]

    def approaches(self, data, workers):
        items, latency, io_workers = data
        counts = sorted(set(workers) | {io_workers})
        out = [Approach("python", "python", 1, lambda: fetch_all(items, latency), warmup=False)]
        for p in counts:
            if p > 1:
                out.append(Approach("python threads", "python-threads", p,
                                    lambda p=p: thread_map(fetch, [(i, latency) for i in items], p),
                                    warmup=False, serial="python"))
        for p in workers:
            out.append(Approach("python processes", "python-processes", p,
                                lambda p=p: process_map(fetch, [(i, latency) for i in items], p)))
        return out

    def dask_approaches(self, data, client, workers):
        import gilfree

        items, latency, _ = data
        return [Approach("python on dask", "dask", p,
                         lambda p=p: gilfree.pmap(lambda i: fetch(i, latency), items,
                                                  backend="dask", client=client, n_workers=p),
                         note="pmap on single-threaded Dask workers")
                for p in workers]


register(IO())

"""Progress reporting for the parallel map.

``progress=True`` shows a tqdm bar; a callable is called as
``progress(done, total)`` (``total`` is None when the input has no length).
Both count finished tasks, whatever order the results are yielded in, and
are updated in the caller's thread.
"""

__all__ = ["make_progress"]


class _NoProgress:
    def update(self, n):
        pass

    def close(self):
        pass


class _CallbackProgress(_NoProgress):
    def __init__(self, callback, total):
        self._callback = callback
        self._total = total
        self.done = 0
        callback(0, total)

    def update(self, n):
        if n:
            self.done += n
            self._callback(self.done, self._total)


class _TqdmProgress:
    def __init__(self, total, desc):
        from tqdm import tqdm  # its import costs more than a map without progress

        self._bar = tqdm(total=total, desc=desc, unit="task", dynamic_ncols=True)

    def update(self, n):
        if n:
            self._bar.update(n)

    def close(self):
        self._bar.close()


def make_progress(progress, total, desc="gilfree"):
    """A progress sink for ``progress`` (False, True or a callable)."""
    if progress is False or progress is None:
        return _NoProgress()
    if progress is True:
        return _TqdmProgress(total, desc)
    return _CallbackProgress(progress, total)

# cython: language_level=3
"""The plain task loop of a process worker of ``gilfree.parallel``, in C.

Before each task the loop writes the task's position into the map's control
board (shared memory), so that the caller can name the item whose task was
running when a worker dies; it stops between tasks when the board's stop
word is non-zero.  In Python those two shared-memory accesses cost about as
much as calling a trivial task; here they are two machine instructions.

The board is received as a typed memoryview: the buffer stays exported (so
the worker's mapping of it cannot be closed) for the whole loop.
"""

cimport cython


@cython.boundscheck(False)
@cython.wraparound(False)
def run_board(func, list items, list results, long long[::1] board, Py_ssize_t slot_pos):
    """Call ``func`` on each item, appending the results to ``results``.

    ``board[slot_pos]`` receives the position of each task before it
    starts; the loop returns early when ``board[0]`` is non-zero.  An
    exception raised by ``func`` propagates (``len(results)`` is then the
    failing task's position).  Returns the number of tasks run.
    """
    cdef Py_ssize_t i, n = len(items)
    if slot_pos <= 0 or slot_pos >= board.shape[0]:
        raise IndexError(f"slot_pos {slot_pos} outside the board (size {board.shape[0]})")
    for i in range(n):
        # ``func`` is an opaque call: the stop word is read again every time
        if board[0] != 0:
            return i
        board[slot_pos] = i
        results.append(func(items[i]))
    return n

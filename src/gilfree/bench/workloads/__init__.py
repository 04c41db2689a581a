"""Built-in workloads of ``gilfree bench``; each module registers one or more."""

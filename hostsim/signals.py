"""Signals the runtime sends, so apps above hostsim can join in without hostsim knowing them.

`samples_written` is sent inside the tick's transaction with the rows about to be stored: one
tick's, or all the ticks of a fast-forward chunk (each row has its ts). A receiver may return
more rows (pools adds one per resource pool and tick), stored in the same transaction.
`samples_committed` is sent after commit with every stored row, for broadcasting.
`host_advanced` is sent while a fast-forward runs (every few seconds, `final` False) and when it
ended (`final` True), so open charts can reload.
"""

from django.dispatch import Signal

samples_written = Signal()  # kwargs: host_id, rows
samples_committed = Signal()  # kwargs: host_id, rows
host_advanced = Signal()  # kwargs: host_id, start, end, final

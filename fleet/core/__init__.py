"""Fleet-wide pieces with no I/O of their own: settings, the domain error table, the clock."""

"""The monitor's one exception type: bad configuration or input, reported as the job's failure reason."""


class MonitorError(Exception):
    """A problem with the job's configuration or input data; the message names the file/key/column."""

"""What a service's name and code may be.

Plain Python on purpose: the settings validate against these, and so does `tools.rename`,
which runs as a Copier task before the service's virtualenv exists.
"""

SERVICE_NAME_MAX_LENGTH = 100
SERVICE_CODE_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"

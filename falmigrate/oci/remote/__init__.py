"""OCI distribution API client: push and pull images, partial pulls of FlashPack layers.

``reference`` parses ``docker://`` references; ``client`` talks HTTP (auth, retries, errors); ``push``
/ ``upload`` send images from an OCI layout; ``pull`` / ``chunked`` / ``localindex`` fetch them into the
verified ``store``; ``transport`` is the ``docker://`` hook of ``oci/transports.py``.
"""

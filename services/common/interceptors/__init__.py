"""The server interceptor every service uses (server.py): request id, token check, bad input
(admission.py), deadline, the mapping of domain errors to statuses (statuses.py), log.

Each call gets a request id (the caller's `x-request-id` when it is a plain token, else a new one;
returned in the trailing metadata), a verified Principal, the page-token key, a request checked
at the door (services/common/validation.py), a timeout equal to the caller's remaining deadline,
one log line with method, principal, status and duration (and the call counted in the metrics
by that status), and a proper status for every domain error.
"""

from services.common.interceptors.admission import (
    MAX_STREAMED_REQUESTS,
    REFUSED_STREAM_DRAIN_S,
    Undecodable,
    admit,
    admit_each,
    admit_stream,
    drain_refused,
    open_method,
    tolerant,
)
from services.common.interceptors.server import (
    LOST_RACES,
    OPEN_PREFIXES,
    REQUEST_ID,
    UNAVAILABLE_ERRORS,
    ServerInterceptor,
    methods,
    request_id_from,
)
from services.common.interceptors.statuses import (
    STATUSES,
    as_grpc_status,
    details,
    status_code,
    to_status,
)

__all__ = [
    "LOST_RACES",
    "MAX_STREAMED_REQUESTS",
    "OPEN_PREFIXES",
    "REFUSED_STREAM_DRAIN_S",
    "REQUEST_ID",
    "STATUSES",
    "UNAVAILABLE_ERRORS",
    "ServerInterceptor",
    "Undecodable",
    "admit",
    "admit_each",
    "admit_stream",
    "as_grpc_status",
    "details",
    "drain_refused",
    "methods",
    "open_method",
    "request_id_from",
    "status_code",
    "to_status",
    "tolerant",
]

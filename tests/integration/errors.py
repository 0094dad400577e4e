"""Reading rich error details from a failed call."""

from __future__ import annotations

from google.rpc import error_details_pb2, status_pb2
from grpc import aio


def bad_request_fields(err: aio.AioRpcError) -> dict[str, str]:
    """field -> description of the google.rpc.BadRequest in the call's status details."""
    out: dict[str, str] = {}
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    out.update({v.field: v.description for v in bad.field_violations})
    return out


def error_reason(err: aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """The google.rpc.ErrorInfo's reason and metadata in the call's status details."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason, dict(info.metadata)
    return "", {}

"""The identity service's gRPC servicer: proto in, use case, proto out."""

from __future__ import annotations

import json

from grpc import aio

from linli.v1 import identity_pb2 as pb
from linli.v1 import identity_pb2_grpc
from services.common.auth import current_principal
from services.common.interceptors import methods
from services.identity import convert
from services.identity.service import Identity

_SERVICE = pb.DESCRIPTOR.services_by_name["IdentityService"]
# What anyone may call without a token: the ways of signing in, and the public keys.
PUBLIC = methods(
    _SERVICE,
    "SignIn",
    "SignInService",
    "Refresh",
    "SignOut",
    "StartPhoneSignIn",
    "CompletePhoneSignIn",
    "EnrolTotp",
    "ConfirmTotp",
    "GetJwks",
)
# What a member may never call: refused at the door, before the request is looked at.
STAFF_ONLY = methods(
    _SERVICE,
    "CreateAccount",
    "CreateServiceAccount",
    "GetAccount",
    "ListAccounts",
    "ChangeAccount",
    "ResetPassword",
    "ChangePassword",
    "DisableAccount",
    "RotateSigningKey",
)


def caller_of(context: aio.ServicerContext) -> str:
    """The caller's address without its port: what codes asked are counted by."""
    peer = context.peer() or "unknown"
    return peer.rsplit(":", 1)[0] if peer.count(":") > 1 else peer


class IdentityApi(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self.i = identity

    async def SignIn(
        self, request: pb.SignInRequest, context: aio.ServicerContext
    ) -> pb.SignInResponse:
        issued = await self.i.sign_in.staff(request.user_name, request.password, request.totp_code)
        return pb.SignInResponse(tokens=convert.tokens_to_proto(issued))

    async def SignInService(
        self, request: pb.SignInServiceRequest, context: aio.ServicerContext
    ) -> pb.SignInServiceResponse:
        issued = await self.i.sign_in.service(request.client_id, request.client_secret)
        return pb.SignInServiceResponse(tokens=convert.tokens_to_proto(issued))

    async def Refresh(
        self, request: pb.RefreshRequest, context: aio.ServicerContext
    ) -> pb.RefreshResponse:
        issued = await self.i.sign_in.refresh(request.refresh_token)
        return pb.RefreshResponse(tokens=convert.tokens_to_proto(issued))

    async def SignOut(
        self, request: pb.SignOutRequest, context: aio.ServicerContext
    ) -> pb.SignOutResponse:
        await self.i.sign_in.sign_out(request.refresh_token)
        return pb.SignOutResponse()

    async def StartPhoneSignIn(
        self, request: pb.StartPhoneSignInRequest, context: aio.ServicerContext
    ) -> pb.StartPhoneSignInResponse:
        ttl = await self.i.sign_in.start_phone(request.phone, caller_of(context))
        return pb.StartPhoneSignInResponse(code_ttl_s=ttl)

    async def CompletePhoneSignIn(
        self, request: pb.CompletePhoneSignInRequest, context: aio.ServicerContext
    ) -> pb.CompletePhoneSignInResponse:
        issued = await self.i.sign_in.complete_phone(request.phone, request.code)
        return pb.CompletePhoneSignInResponse(tokens=convert.tokens_to_proto(issued))

    async def EnrolTotp(
        self, request: pb.EnrolTotpRequest, context: aio.ServicerContext
    ) -> pb.EnrolTotpResponse:
        uri = await self.i.sign_in.enrol_totp(request.user_name, request.password)
        return pb.EnrolTotpResponse(otpauth_uri=uri)

    async def ConfirmTotp(
        self, request: pb.ConfirmTotpRequest, context: aio.ServicerContext
    ) -> pb.ConfirmTotpResponse:
        await self.i.sign_in.confirm_totp(request.user_name, request.password, request.totp_code)
        return pb.ConfirmTotpResponse()

    async def GetJwks(
        self, request: pb.GetJwksRequest, context: aio.ServicerContext
    ) -> pb.GetJwksResponse:
        return pb.GetJwksResponse(
            jwks_json=json.dumps(self.i.tokens.jwks()), active_kid=self.i.tokens.active_kid
        )

    async def CreateAccount(
        self, request: pb.CreateAccountRequest, context: aio.ServicerContext
    ) -> pb.CreateAccountResponse:
        account = await self.i.accounts.create(
            current_principal(),
            request.user_name,
            request.password,
            convert.role(request.role),
            list(request.community_ids),
            list(request.street_ids),
        )
        return pb.CreateAccountResponse(account=convert.account_to_proto(account))

    async def CreateServiceAccount(
        self, request: pb.CreateServiceAccountRequest, context: aio.ServicerContext
    ) -> pb.CreateServiceAccountResponse:
        account, secret = await self.i.accounts.create_service(
            current_principal(), request.client_id
        )
        return pb.CreateServiceAccountResponse(
            account=convert.account_to_proto(account), client_secret=secret
        )

    async def GetAccount(
        self, request: pb.GetAccountRequest, context: aio.ServicerContext
    ) -> pb.GetAccountResponse:
        account = await self.i.accounts.get(current_principal(), request.id)
        return pb.GetAccountResponse(account=convert.account_to_proto(account))

    async def ListAccounts(
        self, request: pb.ListAccountsRequest, context: aio.ServicerContext
    ) -> pb.ListAccountsResponse:
        rows, token = await self.i.accounts.list_managed(
            current_principal(), request.page_size, request.page_token
        )
        return pb.ListAccountsResponse(
            accounts=[convert.account_to_proto(a) for a in rows], next_page_token=token
        )

    async def ChangeAccount(
        self, request: pb.ChangeAccountRequest, context: aio.ServicerContext
    ) -> pb.ChangeAccountResponse:
        account = await self.i.accounts.change(
            current_principal(),
            request.id,
            convert.role(request.role),
            list(request.community_ids),
            list(request.street_ids),
        )
        return pb.ChangeAccountResponse(account=convert.account_to_proto(account))

    async def ResetPassword(
        self, request: pb.ResetPasswordRequest, context: aio.ServicerContext
    ) -> pb.ResetPasswordResponse:
        account = await self.i.accounts.reset_password(
            current_principal(), request.id, request.new_password, request.reset_totp
        )
        return pb.ResetPasswordResponse(account=convert.account_to_proto(account))

    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: aio.ServicerContext
    ) -> pb.ChangePasswordResponse:
        await self.i.accounts.change_own_password(
            current_principal(), request.old_password, request.new_password
        )
        return pb.ChangePasswordResponse()

    async def DisableAccount(
        self, request: pb.DisableAccountRequest, context: aio.ServicerContext
    ) -> pb.DisableAccountResponse:
        account = await self.i.accounts.disable(current_principal(), request.id)
        return pb.DisableAccountResponse(account=convert.account_to_proto(account))

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: aio.ServicerContext
    ) -> pb.RotateSigningKeyResponse:
        kid = await self.i.tokens.rotate(current_principal())
        return pb.RotateSigningKeyResponse(active_kid=kid)

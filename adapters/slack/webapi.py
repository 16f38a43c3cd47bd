"""The answer's Web API calls (chat.postMessage, chat.update, chat.*Stream), made lean.

`AsyncWebClient.chat_postMessage` and its siblings add slack_sdk's layers (argument and
header building, request and response models, three awaited retry checks on every
success) to aiohttp's own request: ~30 µs a call measured in-process, and every answer
makes at least one (`bench/slack.py`). `call` sends the same request (the
client's URL, token, headers, default params and session; the body as slack_sdk's JSON)
and keeps slack_sdk's behaviour: the same response type, `SlackApiError` for `ok: false`
and the client's own retry handlers, asked exactly when slack_sdk would ask them, except
on a plain HTTP 200 that none of them retries (429, 5xx and connection errors only:
`clients.retry_handlers`).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.request import HttpRequest as RetryHttpRequest
from slack_sdk.http_retry.response import HttpResponse as RetryHttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.web.internal_utils import (
    _build_unexpected_body_error_message,
    _get_url,
    get_user_agent,
)

_MAX_ATTEMPTS = 100  # slack_sdk's own safety bound
_USER_AGENT = get_user_agent()


async def call(client: AsyncWebClient, method: str, **kwargs: Any) -> AsyncSlackResponse:
    """`client.api_call(method, json=kwargs)` (None values dropped, as its methods do)."""
    session = client.session
    body = {k: v for k, v in kwargs.items() if v is not None}
    if session is None or session.closed:  # slack_sdk opens a session of its own
        return await client.api_call(method, json=body)
    for name, value in client.default_params.items():
        body.setdefault(name, value)
    headers = {"Content-Type": "application/json;charset=utf-8", "User-Agent": _USER_AGENT}
    if client.token:
        headers["Authorization"] = f"Bearer {client.token}"
    headers.update(client.headers)
    url = _get_url(client.base_url, method)
    req_args: dict[str, Any] = {"headers": headers, "json": body}
    data, response_headers, status = await _send(client, session, url, req_args)
    response = AsyncSlackResponse(
        client=client,
        http_verb="POST",
        api_url=url,
        req_args=req_args,
        data=data,
        headers=response_headers,
        status_code=status,
    )
    validated: AsyncSlackResponse = response.validate()  # type: ignore[no-untyped-call]
    return validated


async def _send(
    client: AsyncWebClient, session: aiohttp.ClientSession, url: str, req_args: dict[str, Any]
) -> tuple[Any, Any, int]:
    """slack_sdk's `_request_with_session` loop for one JSON POST: (data, headers, status)."""
    handlers = client.retry_handlers or []
    state = RetryState()
    request: RetryHttpRequest | None = None
    for _ in range(_MAX_ATTEMPTS):
        state.next_attempt_requested = False
        answer: RetryHttpResponse | None = None
        try:
            async with session.post(
                url,
                json=req_args["json"],
                headers=req_args["headers"],
                ssl=True if client.ssl is None else client.ssl,
                proxy=client.proxy,
            ) as res:
                data: Any
                parsed: bool | None = True  # a JSON body (slack_sdk: `body=`), else raw (`data=`)
                if res.content_type == "application/gzip":
                    data, parsed = await res.read(), False
                elif res.content_type == "text/plain":
                    data, parsed = await res.text(), False
                else:
                    try:
                        data = await res.json()
                    except aiohttp.ContentTypeError:
                        data, parsed = {}, None
                    except json.JSONDecodeError:
                        raise SlackApiError(  # type: ignore[no-untyped-call]
                            _build_unexpected_body_error_message(await res.text()), res
                        ) from None
                if res.status == 200:  # no handler of ours retries it: not asked
                    return data, res.headers, res.status
                if parsed is None:
                    answer = RetryHttpResponse(status_code=res.status, headers=_headers(res))
                elif parsed:
                    answer = RetryHttpResponse(
                        status_code=res.status, headers=_headers(res), body=data
                    )
                else:
                    answer = RetryHttpResponse(
                        status_code=res.status, headers=_headers(res), data=data
                    )
                request = request or _retry_request(url, req_args)
                for handler in handlers:
                    if await handler.can_retry_async(state=state, request=request, response=answer):
                        await handler.prepare_for_next_attempt_async(
                            state=state, request=request, response=answer
                        )
                        break
                if not state.next_attempt_requested:
                    return data, res.headers, res.status
        except Exception as exc:
            request = request or _retry_request(url, req_args)
            for handler in handlers:
                if await handler.can_retry_async(
                    state=state, request=request, response=answer, error=exc
                ):
                    await handler.prepare_for_next_attempt_async(
                        state=state, request=request, response=answer, error=exc
                    )
                    break
            if not state.next_attempt_requested:
                raise
    raise SlackApiError("too many attempts", None)  # type: ignore[no-untyped-call]


def _headers(res: aiohttp.ClientResponse) -> Any:
    return res.headers  # what slack_sdk hands its retry handlers too


def _retry_request(url: str, req_args: dict[str, Any]) -> RetryHttpRequest:
    return RetryHttpRequest(method="POST", url=url, headers=req_args["headers"])

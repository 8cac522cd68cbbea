"""Moving a FastAPI app's hottest route to a native aioweb handler, and only that one.

    aioweb examples.fastapi_hot_route:app --no-access-log      # before: all FastAPI
    aioweb examples.fastapi_hot_route:router --no-access-log   # after: the hot route native
    uvicorn examples.fastapi_hot_route:app                     # the same app on uvicorn

The app is a small price service. ``GET /prices/{symbol}`` is what clients
call all day; orders, health and the OpenAPI docs are called rarely. The
:class:`aioweb.router.Router` answers ``GET /prices/{symbol}`` natively and
hands every other request — including ``POST /prices/{symbol}``, same path,
other method — to the unchanged FastAPI app. Both answer with the same bytes
(``tests/asgi/test_examples.py`` checks it), so clients cannot tell; the one
difference is HEAD, which FastAPI refuses on a GET route (405) and the Router
answers with the GET's headers (RFC 9110 §9.3.2).

What the native handler gives up is FastAPI's machinery for that route:
validation, dependency injection, the OpenAPI entry (the FastAPI route stays
declared, so the docs still list it). What it gains is the cost of an ASGI
request: a Task, a scope dict, the middleware stack, pydantic, and JSON
encoding through ``jsonable_encoder`` (see docs/asgi.md for the numbers).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from aioweb import Request, Response
from aioweb.asgi import AsgiHandler
from aioweb.router import Router, request_params

PRICES: dict[str, float] = {"AAPL": 189.5, "MSFT": 411.25, "NVDA": 121.75}


class Order(BaseModel):
    """An order: validated by FastAPI, so it stays on the FastAPI side."""

    symbol: str
    quantity: int


api = FastAPI(title="prices")


@api.get("/prices/{symbol}")
async def get_price(symbol: str) -> dict[str, Any]:
    """The hot route, as FastAPI serves it (and still does under uvicorn)."""
    if symbol not in PRICES:
        raise HTTPException(404, "unknown symbol")
    return {"symbol": symbol, "price": PRICES[symbol]}


@api.post("/prices/{symbol}")
async def set_price(symbol: str, price: float) -> dict[str, Any]:
    """Same path, another method: FastAPI keeps it."""
    PRICES[symbol] = price
    return {"symbol": symbol, "price": price}


@api.post("/orders")
async def place_order(order: Order) -> dict[str, Any]:
    """A validated body: a route worth keeping in FastAPI."""
    if order.symbol not in PRICES:
        raise HTTPException(404, "unknown symbol")
    return {"symbol": order.symbol, "total": round(PRICES[order.symbol] * order.quantity, 2)}


@api.get("/health")
async def health() -> dict[str, str]:
    """A cold route."""
    return {"status": "ok"}


# "Before": the whole app as an ASGI app; the aioweb CLI wraps it in an AsgiHandler.
app = api


def _json(status: int, payload: dict[str, Any]) -> Response:
    # Byte for byte what FastAPI's JSONResponse sends: compact separators,
    # UTF-8 without escapes, "application/json".
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()
    return Response(body, status, [("content-type", "application/json")])


async def native_get_price(request: Request) -> Response:
    """The hot route, native: the same answers, no ASGI on the way."""
    symbol = request_params(request)["symbol"]
    price = PRICES.get(symbol)
    if price is None:
        return _json(404, {"detail": "unknown symbol"})
    return _json(200, {"symbol": symbol, "price": price})


# "After": the Router answers the hot route itself, FastAPI everything else.
router = Router(fallback=AsgiHandler(api))
router.add("/prices/{symbol}", native_get_price)

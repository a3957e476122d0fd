"""proxy.config.routes: sticky weighted choice, fallback order, sticky keys, and route config."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from proxy.config import ConfigError, load
from proxy.config.routes import (
    Route,
    RoutingConfig,
    Variant,
    candidates,
    choose,
    find_route,
    parse_routing,
    shadowed,
    sticky_value,
)
from proxy.core.rewrite import map_model

A = Variant(name="a", model="openai/gpt-5.5", weight=70)
B = Variant(name="b", model="anthropic/claude-sonnet-4-6", weight=20)
C = Variant(name="c", model="", provider="openai", weight=10)
ROUTE = Route(name="gpt-realtime", variants=(A, B, C))


def test_same_key_always_gets_the_same_variant() -> None:
    """Stickiness: one key, many choices, one variant; this holds for every key tried."""
    for n in range(200):
        key = f"user-{n}"
        first = choose(ROUTE, key)
        assert all(choose(ROUTE, key) == first for _ in range(20))


def test_weights_hold_over_2000_callers() -> None:
    """2000 distinct keys split 70/20/10 within 3 percentage points."""
    counts = Counter(choose(ROUTE, f"caller-{n}").name for n in range(2000))
    shares = {name: counts[name] / 2000 for name in ("a", "b", "c")}
    assert shares["a"] == pytest.approx(0.70, abs=0.03)
    assert shares["b"] == pytest.approx(0.20, abs=0.03)
    assert shares["c"] == pytest.approx(0.10, abs=0.03)


def test_salt_and_route_name_reshuffle_callers() -> None:
    """A new salt, or another route, assigns callers independently."""
    even = Route(name="r", variants=(Variant("x", "m/x"), Variant("y", "m/y")))
    keys = [f"k{n}" for n in range(400)]
    plain = [choose(even, k).name for k in keys]
    salted = [choose(even, k, salt="experiment-2").name for k in keys]
    other = [choose(Route(name="r2", variants=even.variants), k).name for k in keys]
    assert 0.35 < sum(a != b for a, b in zip(plain, salted, strict=True)) / 400 < 0.65
    assert 0.35 < sum(a != b for a, b in zip(plain, other, strict=True)) / 400 < 0.65


def test_growing_a_variant_only_moves_callers_into_it() -> None:
    """Migration 5% -> 50% -> 100%: callers already on the growing variant stay on it."""
    keys = [f"k{n}" for n in range(2000)]

    def on_inworld(share: float) -> set[str]:
        route = Route(
            name="*",
            variants=(
                Variant("inworld", "openai/gpt-5.5", weight=share),
                Variant("openai", "", provider="openai", weight=100 - share),
            ),
        )
        return {k for k in keys if choose(route, k).name == "inworld"}

    five, half, full = on_inworld(5), on_inworld(50), on_inworld(100)
    assert five <= half <= full == set(keys)
    assert len(five) / 2000 == pytest.approx(0.05, abs=0.02)
    assert len(half) / 2000 == pytest.approx(0.50, abs=0.03)


def test_zero_weight_is_never_chosen() -> None:
    """A variant at weight 0 is off."""
    route = Route(name="r", variants=(Variant("on", "m/on"), Variant("off", "m/off", weight=0)))
    assert {choose(route, f"k{n}").name for n in range(500)} == {"on"}


def test_candidates_are_the_choice_then_the_fallback_list() -> None:
    """Dial order: the sticky variant, then fallback entries, without repeating the choice."""
    route = Route(name="r", variants=(A,), fallback=(B, A, C))
    assert candidates(route, "anyone") == (A, B, C)


def test_find_route_prefers_the_name_then_the_catch_all() -> None:
    """A named route wins; `*` covers every other name, and no name at all."""
    star = Route(name="*", variants=(A,))
    routing = RoutingConfig(routes={"gpt-realtime": ROUTE, "*": star})
    assert find_route(routing, "gpt-realtime") is ROUTE
    assert find_route(routing, "other") is star
    assert find_route(routing, None) is star
    assert find_route(RoutingConfig(routes={"x": ROUTE}), "y") is None


def test_sticky_value_sources() -> None:
    """client_key, a named header, or the session; absent sources fall back to the session."""
    headers = {"X-User-Id": "u42"}
    key = RoutingConfig(sticky_key="client_key")
    header = RoutingConfig(sticky_key="header:X-User-Id")
    session = RoutingConfig(sticky_key="session")
    assert sticky_value(key, client_key="sk-1", headers=headers, fallback="s") == "sk-1"
    assert sticky_value(key, client_key=None, headers=headers, fallback="s") == "s"
    assert sticky_value(header, client_key="sk-1", headers=headers, fallback="s") == "u42"
    assert sticky_value(header, client_key="sk-1", headers={}, fallback="s") == "s"
    assert sticky_value(session, client_key="sk-1", headers=headers, fallback="s") == "s"


def test_parse_routing_shapes() -> None:
    """Single-model routes, weighted variants, string fallbacks and default names."""
    routing = parse_routing(
        {
            "sticky_key": "header:X-User",
            "routes": {
                "one": {"model": "openai/gpt-5.4"},
                "ab": {
                    "variants": [
                        {"model": "openai/gpt-5.5", "weight": 9},
                        {"provider": "openai", "weight": 1, "name": "direct"},
                    ],
                    "fallback": ["openai/gpt-5.4-mini"],
                },
            },
        }
    )
    assert routing.sticky_header == "X-User"
    assert routing.routes["one"].variants == (Variant("inworld:openai/gpt-5.4", "openai/gpt-5.4"),)
    ab = routing.routes["ab"]
    assert [(v.name, v.provider, v.weight) for v in ab.variants] == [
        ("inworld:openai/gpt-5.5", "inworld", 9.0),
        ("direct", "openai", 1.0),
    ]
    assert ab.fallback == (Variant("inworld:openai/gpt-5.4-mini", "openai/gpt-5.4-mini"),)


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[routing]\nsticky_key = "cookie"\n', "routing.sticky_key"),
        ("[routing.routes.x]\nvariants = []\n", "routing.routes.x.variants"),
        ('[routing.routes.x]\nmodell = "a/b"\n', "routing.routes.x.modell"),
        ('[routing.routes.x]\nvariants = [{model = "a/b", weight = -1}]\n', "weight"),
        ('[routing.routes.x]\nvariants = [{model = "a/b", weight = 0}]\n', "not all be 0"),
        ('[routing.routes.x]\nvariants = [{provider = "azure", model = "m"}]\n', "provider"),
        ('[routing.routes.x]\nvariants = [{model = "a/b"}, {model = "a/b"}]\n', "unique"),
        ('[routing.routes.x]\nmodel = "a/b"\nfallback = [{model = ""}]\n', "fallback[0].model"),
        ('[routing.routes.x]\nprovider = "openai"\n', "OPENAI_API_KEY"),
        ('[router]\nurl = "ftp://x"\n', "router.url"),
        ('[providers.openai]\nurl = "https://api.openai.com"\n', "providers.openai.url"),
        ('[routing.routes.x]\nmodel = "a/b"\nurl = "http://h/x"\n', "routing.routes.x.url"),
        ('[routing.routes.x]\nmodel = "a/b"\nurl = "ws://h/x?key=s"\n', "routing.routes.x.url"),
        ('[routing.routes.x]\nvariants = [{model = "a/b", url = "wss://u:p@h"}]\n', ".url"),
        ('[routing.routes.x]\nmodel = "a/b"\nshadow = "c/d"\n', "routing.routes.x.shadow"),
        ('[routing.routes.x]\nmodel = "a/b"\nshadow = {model = "c/d", share = 2}\n', "share"),
        ('[routing.routes.x]\nmodel = "a/b"\nshadow = {model = "c/d", weight = 1}\n',
         "routing.routes.x.shadow.weight"),
        ('[routing.routes.x]\nmodel = "a/b"\nshadow = {model = "c/d", tool_output = 1}\n',
         "tool_output"),
        ('[routing.routes.x]\nmodel = "a/b"\nshadow = {provider = "openai"}\n', "OPENAI_API_KEY"),
    ],
)  # fmt: skip
def test_bad_routing_config_names_the_key(tmp_path: Path, toml: str, named: str) -> None:
    """Every invalid routing, provider or router value stops the load naming the key."""
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load(path, {})
    assert named in str(info.value)


def test_routes_and_providers_load_from_a_file(tmp_path: Path) -> None:
    """A file's routes, OpenAI key (from the env) and router URL override are read."""
    path = tmp_path / "proxy.toml"
    path.write_text(
        '[routing.routes."gpt-realtime"]\n'
        'variants = [{provider = "openai", weight = 95}, {model = "openai/gpt-5.5", weight = 5}]\n'
        "[providers.openai]\nforward_client_key = true\n"
    )
    env = {"OPENAI_API_KEY": "sk-openai", "INWORLD_ROUTER_URL": "http://127.0.0.1:9/v1"}
    cfg = load(path, env)
    assert [v.provider for v in cfg.routing.routes["gpt-realtime"].variants] == [
        "openai",
        "inworld",
    ]
    assert cfg.openai.api_key == "sk-openai"
    assert cfg.openai.forward_client_key is True
    assert cfg.router.url == "http://127.0.0.1:9/v1"
    assert "sk-openai" not in repr(cfg)


def test_shadow_and_url_parse() -> None:
    """A route's shadow (a variant plus share and tool output) and per-variant URLs."""
    routing = parse_routing(
        {
            "routes": {
                "r": {
                    "model": "a/b",
                    "url": "wss://eu.example/api/v1/realtime/session",
                    "shadow": {"provider": "openai", "model": "gpt-realtime", "share": 0.25},
                },
                "s": {"variants": [{"model": "a/b", "url": "ws://127.0.0.1:9/x"}]},
            }
        }
    )
    r = routing.routes["r"]
    assert r.variants[0].url == "wss://eu.example/api/v1/realtime/session"
    assert r.shadow is not None
    assert r.shadow.variant == Variant("openai:gpt-realtime", "gpt-realtime", "openai")
    assert r.shadow.share == 0.25
    assert r.shadow.tool_output == '{"shadow": true}'
    assert r.upstreams == (*r.variants, r.shadow.variant)
    assert routing.routes["s"].shadow is None
    assert routing.routes["s"].variants[0].url == "ws://127.0.0.1:9/x"


def test_the_shadow_share_is_sticky_and_holds() -> None:
    """share 0.3: about 30% of 2000 callers, the same callers every time; 0 and 1 are exact."""
    routing = parse_routing({"routes": {"r": {"model": "a/b", "shadow": {"model": "c/d"}}}})
    route = routing.routes["r"]
    assert route.shadow is not None
    keys = [f"caller-{n}" for n in range(2000)]
    for share, low, high in ((0.0, 0, 0), (1.0, 2000, 2000), (0.3, 540, 660)):
        shaped = dataclasses.replace(route, shadow=dataclasses.replace(route.shadow, share=share))
        chosen = [k for k in keys if shadowed(shaped, k)]
        assert low <= len(chosen) <= high
        assert chosen == [k for k in keys if shadowed(shaped, k)]
    half = dataclasses.replace(route, shadow=dataclasses.replace(route.shadow, share=0.5))
    picked = {k for k in keys if shadowed(half, k)}
    assert picked != {k for k in keys if shadowed(half, k, salt="other")}


def test_mapped_provider_model_names_are_mapped() -> None:
    """A `provider/model` name listed in models.map maps; unlisted ones still pass unchanged."""
    cfg = load(None, {})
    rules = dataclasses.replace(cfg.rules, model_map={"a/b": "c/d"})
    assert map_model(rules, "a/b") == "c/d"
    assert map_model(rules, "x/y") == "x/y"
    assert map_model(rules, "gpt-x") == rules.model_fallback


def test_docs_routing_examples_load(tmp_path: Path) -> None:
    """The TOML examples in docs/routing.md are valid configuration."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "routing.md").read_text()
    blocks = [b.split("```")[0] for b in page.split("```toml\n")[1:]]
    assert len(blocks) >= 7  # routes, migration, shadow traffic and its walkthrough
    for n, block in enumerate(blocks):
        path = tmp_path / f"example{n}.toml"
        path.write_text(block)
        assert load(path, {"OPENAI_API_KEY": "sk-x"}).routing.routes

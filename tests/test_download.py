"""Downloads from a real HTTP server on the loopback interface, reached through
``HF_ENDPOINT`` as the hub would be: full, cut and resumed, wrong hash, 404, 401, slow and
cancelled, through a proxy, and the refusals (plain HTTP, no space, no network)."""

from __future__ import annotations

import hashlib
import socket
import stat
import threading
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from hub_server import TOKEN, Hub, serve, serve_proxy
from test_catalog import TINY, write_gguf

from tui import paths
from tui.engine import download, hub, model_store
from tui.engine.download import DownloadError, plan, target_for
from tui.engine.importer import import_model
from tui.engine.model_store import Cancelled, Progress

KEY = "acme/tiny-GGUF/tiny-Q4_K_M.gguf"
_ENV = ("HF_TOKEN", "HF_ENDPOINT", "http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("gguf")
    return write_gguf(folder / "tiny.gguf", TINY, tensors=2, elements=32768).read_bytes()


@pytest.fixture
def fake_hub(model_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    with serve(Hub({KEY: model_bytes})) as running:
        monkeypatch.setenv("HF_ENDPOINT", running.base)
        yield running


def _get(spec: str = KEY, **kwargs: object) -> download.DownloadResult:
    return download.download(plan(target_for(spec)), **kwargs)  # type: ignore[arg-type]


def test_full_download(fake_hub: Hub, model_bytes: bytes) -> None:
    target = target_for(KEY)
    assert target.host == "127.0.0.1" and target.size_bytes is None
    assert fake_hub.requests == []  # naming the host needed no connection
    the_plan = plan(target)
    assert [(r[0], r[1].split("/")[3]) for r in fake_hub.requests] == [("HEAD", "resolve")]
    assert the_plan.size_bytes == len(model_bytes)
    assert the_plan.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert (the_plan.hash_source, the_plan.data_host, the_plan.resume_from) == (
        "hub",
        "localhost",
        0,
    )

    seen: list[Progress] = []
    result = download.download(the_plan, progress=seen.append)
    assert result.path == paths.models_dir() / "tiny-Q4_K_M.gguf"
    assert result.path.read_bytes() == model_bytes
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert not download.part_path(result.path).exists()
    assert seen[-1].done == seen[-1].total == len(model_bytes)
    assert all(p.phase == "download" and p.bytes_per_second >= 0 for p in seen)
    assert seen[-1].seconds_left == 0
    assert model_store.find_by_hash(result.sha256) == result.path
    assert model_store.load_index()[result.path.name].origin == f"hf:{KEY}"
    with pytest.raises(DownloadError, match="already in Burrow's models folder"):
        plan(target_for(KEY))


def test_cut_and_resumed(fake_hub: Hub, model_bytes: bytes) -> None:
    fake_hub.cut_after = 100_000
    with pytest.raises(DownloadError, match=r"closed after 100000 of \d+ bytes.*resume"):
        _get()
    part = download.part_path(paths.models_dir() / "tiny-Q4_K_M.gguf")
    assert part.stat().st_size == 100_000
    first_time = fake_hub.bytes_sent
    fake_hub.bytes_sent = 0

    the_plan = plan(target_for(KEY))
    assert the_plan.resume_from == 100_000
    result = download.download(the_plan)
    assert result.resumed_from == 100_000
    assert fake_hub.bytes_sent == len(model_bytes) - 100_000 < len(model_bytes)
    assert first_time == 100_000
    assert fake_hub.requests[-1][2].get("Range") == "bytes=100000-"
    assert result.path.read_bytes() == model_bytes


def test_wrong_hash_is_refused_and_cleaned_up(fake_hub: Hub) -> None:
    fake_hub.published[KEY] = "0" * 64
    dest = paths.models_dir() / "tiny-Q4_K_M.gguf"
    with pytest.raises(DownloadError, match=r"SHA-256 mismatch.*deleted"):
        _get()
    assert not dest.exists() and not download.part_path(dest).exists()
    assert model_store.load_index() == {}


def test_not_found(fake_hub: Hub) -> None:
    with pytest.raises(DownloadError, match=r"not found on 127\.0\.0\.1 \(HTTP 404\)"):
        plan(target_for("acme/tiny-GGUF/missing.gguf"))


def test_gated_repository_and_token(fake_hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hub.gated.add(KEY)
    with pytest.raises(DownloadError, match=r"HTTP 401.*gated.*HF_TOKEN=<token>"):
        plan(target_for(KEY))
    monkeypatch.setenv("HF_TOKEN", "wrong")
    with pytest.raises(DownloadError, match="refused the token in HF_TOKEN"):
        plan(target_for(KEY))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = _get()
    assert result.path.is_file()
    resolve = [h for _m, p, h in fake_hub.requests if "/resolve/" in p]
    storage = [h for _m, p, h in fake_hub.requests if p.startswith("/cdn/")]
    assert resolve[-1]["Authorization"] == f"Bearer {TOKEN}"
    assert storage and all("Authorization" not in h for h in storage)  # never to another host


def test_slow_server_and_cancel(fake_hub: Hub, model_bytes: bytes) -> None:
    fake_hub.chunk, fake_hub.delay = 4096, 0.01
    cancel = threading.Event()

    def on_progress(progress: Progress) -> None:
        if progress.done > 0:
            cancel.set()

    with pytest.raises(Cancelled, match="cancelled; run the download again to resume"):
        _get(progress=on_progress, cancel=cancel)
    dest = paths.models_dir() / "tiny-Q4_K_M.gguf"
    kept = download.part_path(dest).stat().st_size
    assert 0 < kept < len(model_bytes) and not dest.exists()

    fake_hub.delay = 0
    result = _get()
    assert result.resumed_from == kept and result.path.read_bytes() == model_bytes


def test_http_proxy_is_used(fake_hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_proxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        result = _get()
    assert result.path.is_file()
    base = f"http://127.0.0.1:{fake_hub.port}"
    assert f"HEAD {base}/{KEY.rsplit('/', 1)[0]}/resolve/main/tiny-Q4_K_M.gguf HTTP/1.1" in (
        proxy.seen
    )
    assert any(line.startswith(f"GET http://localhost:{fake_hub.port}/cdn/") for line in proxy.seen)


def test_https_proxy_gets_a_connect(fake_hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    # The loopback server speaks plain HTTP, so TLS fails after the tunnel is set up: what
    # matters is that an https:// endpoint went through HTTPS_PROXY with CONNECT.
    monkeypatch.setenv("HF_ENDPOINT", f"https://127.0.0.1:{fake_hub.port}")
    with serve_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with pytest.raises(DownloadError, match=r"127.0.0.1"):
            plan(target_for(KEY))
    assert [line.rsplit(" ", 1)[0] for line in proxy.seen] == [f"CONNECT 127.0.0.1:{fake_hub.port}"]


def test_plain_http_only_to_this_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example.org")
    with pytest.raises(DownloadError, match="only over HTTPS"):
        target_for(KEY)
    for url in ("http://localhost:1/x", "http://127.0.0.1/x", "http://[::1]:8/x", "https://a.b/"):
        hub.check_url(url)
    with pytest.raises(DownloadError):
        hub.check_url("ftp://127.0.0.1/x")


def test_curated_name_and_default_host() -> None:
    target = target_for("qwen2.5-0.5b")
    assert target.host == "huggingface.co"
    assert target.url == (
        "https://huggingface.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/"
        "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"
    )
    assert target.size_bytes and target.curated and target.curated.name == "qwen2.5-0.5b"
    with pytest.raises(DownloadError, match=r"OWNER/REPO/FILE.gguf"):
        target_for("no-such-model")


def test_no_network_and_timeout(fake_hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(DownloadError, match="refused the connection"):
        plan(target_for(KEY))
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.base)
    fake_hub.stall = 3
    with pytest.raises(DownloadError, match=r"did not answer within 0.3 s"):
        plan(target_for(KEY), timeout=0.3)


def test_free_space_checked_first(fake_hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_store, "free_bytes", lambda folder: 1000)
    with pytest.raises(DownloadError, match="free some space"):
        _get()
    assert [r[0] for r in fake_hub.requests] == ["HEAD"]  # no transfer started


def test_a_file_that_is_not_a_model_is_deleted(fake_hub: Hub) -> None:
    fake_hub.files["acme/x/junk.gguf"] = b"not a model" * 100
    with pytest.raises(DownloadError, match=r"not a usable GGUF model.*deleted"):
        _get("acme/x/junk.gguf")
    assert list(paths.models_dir().iterdir()) == []


def test_a_model_already_imported_is_not_downloaded(fake_hub: Hub, model_bytes: bytes) -> None:
    source = paths.data_dir() / "elsewhere" / "same-model.gguf"
    source.parent.mkdir()
    source.write_bytes(model_bytes)
    import_model(source)
    with pytest.raises(DownloadError, match="already in Burrow's models folder as same-model"):
        plan(target_for(KEY))


def test_a_mirror_without_redirect(fake_hub: Hub, model_bytes: bytes) -> None:
    fake_hub.redirect = False
    the_plan = plan(target_for(KEY))
    assert (the_plan.data_host, the_plan.size_bytes) == ("127.0.0.1", len(model_bytes))
    assert download.download(the_plan).path.read_bytes() == model_bytes


def test_a_redirect_without_size_is_followed(fake_hub: Hub, model_bytes: bytes) -> None:
    fake_hub.linked_size = False
    the_plan = plan(target_for(KEY))
    assert (the_plan.data_host, the_plan.size_bytes) == ("localhost", len(model_bytes))
    assert [r[1].startswith("/cdn/") for r in fake_hub.requests] == [False, False, True]


def test_published_hash_headers() -> None:
    digest = "ab" * 32
    for headers, expected in (
        ({"X-Linked-Etag": f'"{digest}"', "ETag": '"abc"'}, digest),
        ({"ETag": f'W/"{digest.upper()}"'}, digest),
        ({"ETag": '"0123456789abcdef0123456789abcdef01234567"'}, None),
        ({}, None),
    ):
        message = Message()
        for key, value in headers.items():
            message[key] = value
        assert hub.published_sha256(message) == expected


def test_unverified_download_needs_consent(fake_hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "published_sha256", lambda headers: None)
    the_plan = plan(target_for(KEY))
    assert the_plan.sha256 is None and the_plan.hash_source is None
    with pytest.raises(DownloadError, match="published no SHA-256"):
        download.download(the_plan)
    assert download.download(the_plan, allow_unverified=True).path.is_file()


def test_part_file_name(tmp_path: Path) -> None:
    assert download.part_path(tmp_path / "a.gguf").name == "a.gguf.part"

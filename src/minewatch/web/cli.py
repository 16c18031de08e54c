"""`minewatch serve`: the dashboard and HTTP API, on localhost unless told otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from minewatch.i18n import current, tr


def serve(
    db: str = typer.Option(None, "--db", help=tr(
        "DuckDB file or postgresql:// URL (default: MINEWATCH_DB, else the user data directory).",
        "DuckDB 文件或 postgresql:// 地址（默认取 MINEWATCH_DB，否则为用户数据目录）。")),
    host: str = typer.Option("127.0.0.1", "--host", help=tr(
        "Address to listen on. Anything but localhost exposes the dashboard to the network: put it behind "
        "HTTPS.", "监听地址。非本机地址会把面板暴露到网络上：请置于 HTTPS 之后。")),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help=tr("TCP port.", "TCP 端口。")),
    insecure_cookies: bool = typer.Option(False, "--insecure-cookies", help=tr(
        "Send session cookies over plain HTTP to hosts other than localhost (testing only).",
        "允许通过明文 HTTP 向非本机发送会话 Cookie（仅用于测试）。")),
    max_upload_mb: int = typer.Option(512, "--max-upload-mb", min=1, help=tr("Largest upload (MB).", "最大上传大小 (MB)。")),
) -> None:
    """Serve the web dashboard and the HTTP API (log-in required; create users with `minewatch user add`).

    启动网页面板和 HTTP API（需登录；用 `minewatch user add` 创建用户）。
    """
    import uvicorn

    from minewatch.paths import data_dir
    from minewatch.web.app import Settings, create_app

    target = db or os.environ.get("MINEWATCH_DB") or None
    settings = Settings(db=_target(target), data_dir=data_dir() / "web", secure_cookies=not insecure_cookies,
                        max_upload_bytes=max_upload_mb * 1024 * 1024, default_lang=current())  # fmt: skip
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(tr(f"warning: listening on {host}; use HTTPS in front of it.",
                      f"警告：正在监听 {host}；请在其前面使用 HTTPS。"), err=True)  # fmt: skip
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def _target(value: str | None) -> str | Path | None:
    if value is None:
        return None
    return value if value.startswith(("postgres://", "postgresql://")) else Path(value)


__all__ = ["serve"]

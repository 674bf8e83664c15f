"""A headless Chromium driven over the DevTools protocol through a pipe (standard library only).

``Browser().open(url, width)`` loads a page at a given viewport width and returns what
the page logged as errors (uncaught exceptions, ``console.error``, failed loads);
``evaluate`` runs a JS expression in it; ``screenshot`` saves the full page as PNG. One
browser process serves every page of a test module. ``--remote-debugging-pipe`` speaks
NUL-terminated JSON over file descriptors 3 (commands in) and 4 (replies out), so no
websocket client or WebDriver is needed; the system ``chromium`` (Debian package) is used.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    env = os.environ.get("NASBENCH_HARNESS_CHROMIUM")
    return env or next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


class Browser:
    def __init__(self, executable: str, *, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="nbh-chromium-")
        cmd_r, self._cmd_w = os.pipe()  # we write commands; chromium reads fd 3
        self._out_r, out_w = os.pipe()  # chromium writes fd 4; we read

        def child_fds():
            os.dup2(cmd_r, 3)
            os.dup2(out_w, 4)

        self.proc = subprocess.Popen(
            [
                executable, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
                "--hide-scrollbars", f"--user-data-dir={self.profile}", "about:blank",
            ],  # fmt: skip
            preexec_fn=child_fds,
            pass_fds=(3, 4),  # kept open: the fds child_fds set up
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._buf, self._next_id, self._events = b"", 0, []
        page = next(t for t in self._call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self._call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    # -- protocol ---------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._out_r, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium exited (code {self.proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _call(self, method: str, session: str | None = None, **params) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def call(self, method: str, **params) -> dict:
        return self._call(method, self.session, **params)

    def _wait_event(self, method: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == method for e in self._events):
            self._events.append(self._read_message(deadline))

    # -- pages ------------------------------------------------------------------------
    def open(self, url: str, width: int, height: int = 900) -> list[str]:
        """Load ``url`` in a ``width`` x ``height`` viewport; returns the errors it logged while loading."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self._events.clear()
        self.call("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired")
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # layout settled
        return self.errors()

    def errors(self) -> list[str]:
        out = []
        for e in self._events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}".strip())
        return out

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"probe failed: {res['exceptionDetails'].get('exception', {}).get('description')}")
        return res["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000), "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        try:
            self._call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._out_r)
        shutil.rmtree(self.profile, ignore_errors=True)

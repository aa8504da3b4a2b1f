"""Headless Chromium driven over its DevTools protocol on a pipe: open a page, wait until it shows
some text, click, read the rendered text, take a screenshot.

`chromium --dump-dom --virtual-time-budget=N` renders a single page after N ms and cannot click;
a React app such as MLflow's UI loads its data over several ajax calls after the page itself, so
every page would cost the whole budget in real time (about 9 s each here) and nested runs would stay
folded. `--remote-debugging-pipe` gives the same browser's protocol on file descriptors 3 (commands)
and 4 (replies), JSON messages ended by a NUL byte, with no extra package: each page is read as soon
as it shows what we wait for.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-extensions",
    "--no-first-run",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-dev-shm-usage",
]


def find() -> str | None:
    """The first Chromium-family browser on PATH (Debian's package is `chromium`), or None."""
    return next(
        (
            path
            for name in ("chromium", "chromium-browser", "google-chrome", "chrome")
            if (path := shutil.which(name))
        ),
        None,
    )


def _high(fd: int) -> int:
    """The same pipe end on a descriptor >= 10 (the original is closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium with one tab, `width` x `height` CSS pixels. Use as a context manager:
    the browser and its temporary profile are gone when the block ends, even on failure."""

    def __init__(self, binary: str | None = None, width: int = 1600, height: int = 1000):
        self.binary = binary or find()
        if self.binary is None:
            raise FileNotFoundError("no chromium binary on PATH (Debian: apt-get install chromium)")
        self.size = (width, height)
        self._next_id = 0
        self._buffer = b""

    def __enter__(self) -> Browser:
        self._profile = tempfile.mkdtemp(prefix="auforget-chromium-")
        # Both pipe ends the browser keeps are moved to descriptors >= 10 first, so that putting
        # them on 3 and 4 cannot overwrite one with the other (bash, unlike dash, redirects from
        # fds > 9).
        to_browser, self._commands = (_high(fd) for fd in os.pipe())
        self._replies, from_browser = (_high(fd) for fd in os.pipe())
        cmd = [
            self.binary,
            *FLAGS,
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile}",
            f"--window-size={self.size[0]},{self.size[1]}",
            "about:blank",
        ]
        self._log = Path(self._profile) / "chromium.log"
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(
                ["bash", "-c", f'exec "$@" 3<&{to_browser} 4>&{from_browser}', "bash", *cmd],
                pass_fds=(to_browser, from_browser),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        os.close(to_browser)
        os.close(from_browser)
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            self.call(
                "Emulation.setDeviceMetricsOverride",
                session=True,
                width=self.size[0],
                height=self.size[1],
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for fd in (self._commands, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        # The browser leads its own process group (renderers, zygote): stop all of it.
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if self._proc.poll() is not None:
                break
            try:
                os.killpg(self._proc.pid, sig)
                self._proc.wait(wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def call(self, method: str, session: bool = False, timeout: float = 60, **params) -> dict:
        """Send one protocol command and return its result (events in between are dropped)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        try:
            os.write(self._commands, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"chromium exited: {self._output()}") from None
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited: {self._output()}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def _output(self) -> str:
        return self._log.read_text(errors="replace")[-3000:] if self._log.exists() else ""

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        result = self.call(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def text(self) -> str:
        """What the page shows as text (the rendered DOM's innerText, no-break spaces as spaces)."""
        return (self.evaluate("document.body ? document.body.innerText : ''") or "").replace(
            "\xa0", " "
        )

    def open(self, url: str, *wait_for: str, timeout: float = 60) -> str:
        """Load `url` and wait until its text contains every string of `wait_for`; return the
        text."""
        self.call("Page.navigate", session=True, url=url)
        return self.wait_for(*wait_for, timeout=timeout)

    def wait_for(self, *strings: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            missing = [s for s in strings if s not in text]
            if not missing:
                return text
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never showed {missing}; it shows:\n{text[:3000]}")
            time.sleep(0.25)

    def click(self, selector: str) -> int:
        """Click every element matching a CSS selector; return how many there were."""
        return self.evaluate(
            f"(() => {{ const e = [...document.querySelectorAll({json.dumps(selector)})];"
            " e.forEach(x => x.click()); return e.length; })()"
        )

    def click_text(self, text: str, selector: str = "*") -> None:
        """Click the innermost element matching `selector` whose whole text is `text` (a link, a
        button, a tab), as a user clicks what they read."""
        found = self.evaluate(f"""(() => {{
            const hits = [...document.querySelectorAll({json.dumps(selector)})]
                .filter(e => e.textContent.trim() === {json.dumps(text)});
            const inner = hits.filter(e => !hits.some(o => o !== e && e.contains(o)));
            if (inner.length) inner[0].click();
            return inner.length; }})()""")
        if not found:
            raise LookupError(
                f"nothing to click shows {text!r}; the page shows:\n{self.text()[:3000]}"
            )

    def type(self, selector: str, text: str) -> None:
        """Focus the first element matching `selector` and type `text` into it, as keystrokes do."""
        if not self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (e) e.focus(); return !!e; })()"
        ):
            raise LookupError(f"no element matches {selector!r}")
        self.call("Input.insertText", session=True, text=text)

    def screenshot(self, path: Path) -> Path:
        """The visible window as a PNG."""
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

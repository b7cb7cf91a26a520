"""What the live-server checks share (django_live.py, web_live.py): a free
port, a GET that returns (status, content type, body) whatever the status,
and a server process in its own process group, waited for until it answers
and killed with its group on exit from the `with` block. Every wait is
bounded."""
from __future__ import print_function

import os
import signal
import socket
import subprocess
import time

try:
    from urllib.request import Request, urlopen
    from urllib.error import HTTPError, URLError
except ImportError:  # Python 2
    from urllib2 import Request, urlopen, HTTPError, URLError

START_TIMEOUT = 60
REQUEST_TIMEOUT = 60


def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def get(url, headers=None, timeout=REQUEST_TIMEOUT):
    try:
        response = urlopen(Request(url, headers=headers or {}), timeout=timeout)
        status = response.getcode()
    except HTTPError as error:
        response = error
        status = error.code
    content_type = response.headers.get('Content-Type', '')
    return status, content_type, response.read().decode('utf-8', 'replace')


class Server(object):
    """A server on 127.0.0.1 and a free port (`self.port`, chosen here, for
    the subclass to put in `self.command`), run in `cwd` with `self.env`;
    ready once `ready_path` answers. Its output goes to a log in
    `log_dir`, shown when the `with` block raises."""

    def __init__(self, log_dir, name, cwd, ready_path):
        self.port = free_port()
        self.log_path = os.path.join(log_dir, '%s-%d.log' % (name, self.port))
        self.cwd = cwd
        self.ready_path = ready_path
        self.env = dict(os.environ, PYTHONUNBUFFERED='1')
        self.command = None
        self.process = None
        self.log = None

    def __enter__(self):
        self.log = open(self.log_path, 'wb')
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, preexec_fn=os.setsid)
        deadline = time.time() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise AssertionError('the server exited with %s:\n%s' % (self.process.returncode, self.output()))
            try:
                get(self.url(self.ready_path), timeout=2)
                return self
            except (URLError, socket.error, socket.timeout):
                pass
            if time.time() > deadline:
                raise AssertionError('the server did not answer within %ds:\n%s' % (START_TIMEOUT, self.output()))
            time.sleep(0.2)

    def __exit__(self, *exc_info):
        self.stop()
        if exc_info[0] is not None:
            print('server log (%s):\n%s' % (' '.join(self.command), self.output()))
        return False

    def stop(self):
        """Stops the server (SIGINT, then SIGKILL, to its process group)."""
        if self.process is not None and self.process.poll() is None:
            for sig, wait in ((signal.SIGINT, 5), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.process.pid, sig)
                except OSError:
                    pass
                deadline = time.time() + wait
                while self.process.poll() is None and time.time() < deadline:
                    time.sleep(0.05)
                if self.process.poll() is not None:
                    break
        if self.log is not None and not self.log.closed:
            self.log.close()

    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.port, path)

    def output(self):
        if self.log is not None and not self.log.closed:
            self.log.flush()
        with open(self.log_path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')[-4000:]

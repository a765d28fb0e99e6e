"""The SSH transport: commands and SFTP over one shared paramiko connection per login.

:func:`open_transport` (or :class:`SshTransport`) returns a *handle* on a
pooled connection: every handle for the same user, host, port and auth
settings shares one SSH connection (and its SFTP session), which is closed
when the last handle closes.

Settings come from the ``SshAuth`` object and the ``port`` argument first,
then from the OpenSSH client config (``HostName``, ``User``, ``Port``,
``IdentityFile``, ``ProxyJump``, ``ProxyCommand``).  The config file is the
``ssh_config`` argument, else ``$LRMS_SSH_CONFIG``, else ``~/.ssh/config``;
``none`` (or an empty value) reads no config file.

Host keys are checked against ``auth.known_hosts`` (else ``~/.ssh/known_hosts``).
Unknown keys are refused (``host_key_policy: reject``) or trusted on first use
and appended to that file (``accept-new``); a changed key is always refused.

Reconnects: when the connection drops during an operation, it is reopened
once and the operation retried; a second failure raises
:class:`~lrms.errors.TransportError`.  :meth:`SshTransport.run` is retried
only if the drop happened before the ``exec`` request was sent (opening the
channel failed), so a command such as a job submission never runs twice; a
drop after that raises ``TransportError`` (the command may or may not have run).

Modules: ``settings`` (config and ProxyJump resolution), ``keys`` (login and
host keys), ``pool`` (shared connections and SFTP sessions), ``commands``
(running one command), ``files`` (SFTP operations), ``workarounds`` (paramiko
bugs #1115 and #822; importing it checks the paramiko version), ``transport``
(the handle).
"""

from __future__ import annotations

from .settings import CONFIG_ENV
from .transport import SshTransport, open_transport

__all__ = ["CONFIG_ENV", "SshTransport", "open_transport"]

//! The server side of security: building the account table and the compiled authentication
//! settings from the configuration, authenticating each client, the auth and TLS handshake
//! deadlines, and re-checking clients when a reload changes users or permissions.

use std::cmp::Reverse;
use std::collections::HashMap;

use crate::account::{Account, AccountId, GLOBAL_ACCOUNT, SYSTEM_ACCOUNT};
use crate::auth::permissions::ClientPermissions;
use crate::auth::{Auth, Authenticated, CertIdentity, Decision, Identity};
use crate::conn::{CloseReason, ConnId, PendingAuth};
use crate::proto::error::{ERR_AUTHENTICATION_TIMEOUT, ERR_AUTHORIZATION_VIOLATION};
use crate::server::{ConnTimer, Level, Output, Server};

/// Where authenticating a CONNECT got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthStep {
    /// The client is in.
    Done,
    /// The client was refused and closed.
    Refused,
    /// The runtime is checking its password.
    Pending,
}

impl Server {
    /// (Re)builds accounts, imports and the authentication tables from the configuration.
    /// Accounts are kept by name across reloads, with their subscriptions.
    pub(crate) fn configure_security(&mut self) {
        let mut names: Vec<String> = vec![GLOBAL_ACCOUNT.to_string()];
        if !self.config.no_system_account {
            names.push(
                self.config
                    .system_account
                    .clone()
                    .unwrap_or_else(|| SYSTEM_ACCOUNT.to_string()),
            );
        }
        names.extend(self.config.accounts.iter().map(|a| a.name.clone()));
        for name in names {
            if !self.accounts.iter().any(|a| a.name == name) {
                let mut account = Account::new(name);
                account.reply_prefix = self.new_reply_prefix();
                self.accounts.push(account);
            }
        }
        let ids: HashMap<String, AccountId> = self
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.clone(), AccountId(i as u32)))
            .collect();
        self.system_account = if self.config.no_system_account {
            None
        } else {
            let name = self.config.system_account.as_deref().unwrap_or(SYSTEM_ACCOUNT);
            ids.get(name).copied()
        };
        let tls_map = self.config.tls.as_ref().is_some_and(|t| t.verify_and_map);
        self.auth = Auth::new(
            &self.config.authorization,
            self.config.no_auth_user.as_deref(),
            tls_map,
            |name| ids.get(name).copied().unwrap_or(AccountId(0)),
        );
        // nats-server lets clients without credentials into $G when the file only gives the
        // system account users (and has no authorization block).
        self.auth.implicit_global_user = self.system_account.is_some()
            && self.config.no_auth_user.is_none()
            && self.config.authorization.token.is_none()
            && self.config.authorization.user.is_none()
            && self.config.accounts.len() == 1
            && self
                .config
                .accounts
                .iter()
                .all(|a| Some(a.name.as_str()) == self.config.system_account.as_deref().or(Some(SYSTEM_ACCOUNT)))
            && self
                .config
                .authorization
                .users
                .iter()
                .all(|u| u.account != GLOBAL_ACCOUNT)
            && self
                .config
                .authorization
                .nkeys
                .iter()
                .all(|u| u.account != GLOBAL_ACCOUNT);
        self.configure_imports(&ids);
        self.configure_server_requests();
    }

    /// A fresh prefix for an account's made-up reply subjects.
    fn new_reply_prefix(&mut self) -> Box<[u8]> {
        let mut prefix = b"_R_.".to_vec();
        self.push_reply_token(&mut prefix);
        prefix.push(b'.');
        prefix.into_boxed_slice()
    }

    /// How long a client has to authenticate: `authorization { timeout }`, or nats-server's
    /// default, one second longer than the TLS handshake timeout when TLS is on.
    fn auth_timeout_duration(&self) -> std::time::Duration {
        match (self.config.authorization.timeout, &self.config.tls) {
            (Some(timeout), _) => timeout,
            (None, Some(tls)) => tls.timeout + std::time::Duration::from_secs(1),
            (None, None) => crate::auth::DEFAULT_AUTH_TIMEOUT,
        }
    }

    /// Starts the deadlines a new connection must meet (TLS handshake, then authentication)
    /// and makes its nkey challenge.
    pub(crate) fn start_security(&mut self, id: ConnId) {
        let now = self.now;
        let auth_required = self.auth.required();
        let nonce = self
            .auth
            .wants_nonce()
            .then(|| crate::auth::credentials::new_nonce(&mut self.rng));
        let tls_timeout = self.config.tls.as_ref().map(|t| t.timeout);
        let Some(conn) = self.conn_mut(id) else { return };
        conn.nonce = nonce;
        conn.authenticated = !auth_required;
        match tls_timeout {
            // The auth timer starts once the handshake is done.
            Some(timeout) => {
                let at = now + timeout;
                conn.tls_deadline = Some(at);
                self.conn_timers.push(Reverse((at, ConnTimer::TlsTimeout, id)));
            }
            None => self.start_auth_timer(id),
        }
    }

    fn start_auth_timer(&mut self, id: ConnId) {
        let at = self.now + self.auth_timeout_duration();
        let Some(conn) = self.conn_mut(id) else { return };
        if conn.authenticated {
            return;
        }
        conn.auth_deadline = Some(at);
        self.conn_timers.push(Reverse((at, ConnTimer::AuthTimeout, id)));
    }

    /// The runtime finished the TLS handshake of `id`.
    pub(crate) fn on_tls_established(
        &mut self,
        id: ConnId,
        cert: Option<CertIdentity>,
        session: crate::conn::SessionInfo,
    ) {
        let description = format!("TLS version {}, cipher suite {}", session.version, session.cipher_suite);
        if let Some(conn) = self.conn_mut(id) {
            conn.tls_deadline = None;
            conn.cert = cert;
            conn.tls = Some(session);
        }
        self.debug(id, || "TLS handshake complete".to_string());
        self.debug(id, || description);
        // A route's credentials deadline started when it connected.
        if self.conn(id).is_some_and(|c| c.route.is_none()) {
            self.start_auth_timer(id);
        }
    }

    /// The runtime's TLS handshake with `id` failed.
    pub(crate) fn on_tls_failed(&mut self, id: ConnId, error: &str) {
        self.log_conn(Level::Error, id, format!("TLS handshake error: {error}"));
        self.close(id, CloseReason::TlsHandshakeError, false);
    }

    /// The handshake deadline passed: close without a word, as nats-server does (the client
    /// cannot read plaintext in the middle of a handshake).
    pub(crate) fn tls_timeout(&mut self, id: ConnId) {
        self.log_conn(Level::Error, id, "TLS handshake timeout".to_string());
        self.close(id, CloseReason::TlsHandshakeError, false);
    }

    /// The authentication deadline passed without a CONNECT.
    pub(crate) fn auth_timeout(&mut self, id: ConnId) {
        self.debug(id, || "Authentication Timeout".to_string());
        self.send_err(id, ERR_AUTHENTICATION_TIMEOUT);
        self.close(id, CloseReason::AuthenticationTimeout, true);
    }

    /// Refuses a client: log, `-ERR 'Authorization Violation'`, close.
    pub(crate) fn auth_violation(&mut self, id: ConnId, log: String) {
        self.log_conn(Level::Error, id, log);
        self.send_err(id, ERR_AUTHORIZATION_VIOLATION);
        self.close(id, CloseReason::AuthenticationViolation, true);
    }

    /// Authenticates the CONNECT `id` just sent. A bcrypt password is handed to the runtime to
    /// check; the connection then waits (see [`Server::on_password_checked`]).
    pub(crate) fn authenticate(&mut self, id: ConnId) -> AuthStep {
        let Some(conn) = self.conn(id) else {
            return AuthStep::Refused;
        };
        if !self.auth.required() {
            if let Some(conn) = self.conn_mut(id) {
                conn.authenticated = true;
            }
            return AuthStep::Done;
        }
        let decision = self
            .auth
            .authenticate(&conn.opts, conn.nonce.as_deref(), conn.cert.as_ref());
        match decision {
            Decision::Accept(who) => {
                self.bind(id, who);
                AuthStep::Done
            }
            Decision::Refuse(refused) => {
                self.auth_violation(id, refused.log);
                AuthStep::Refused
            }
            Decision::Check { check, then, refused } => {
                let Some(conn) = self.conn_mut(id) else {
                    return AuthStep::Refused;
                };
                // nats-server stops the auth timer when CONNECT arrives.
                conn.auth_deadline = None;
                conn.pending_auth = Some(Box::new(PendingAuth {
                    then,
                    refused,
                    hash: check.hash.clone(),
                }));
                self.outputs.push_back(Output::CheckPassword { conn: id, check });
                AuthStep::Pending
            }
        }
    }

    /// The runtime checked a password: let the client in (and handle what it sent meanwhile),
    /// or refuse it.
    pub(crate) fn on_password_checked(&mut self, id: ConnId, ok: bool) {
        if self.conn(id).is_some_and(|c| c.route.is_some()) {
            self.on_route_password_checked(id, ok);
            return;
        }
        let Some(conn) = self.conn_mut(id) else { return };
        let Some(pending) = conn.pending_auth.take() else {
            return;
        };
        let held = std::mem::take(&mut conn.held);
        if !ok {
            self.auth_violation(id, pending.refused.log);
            return;
        }
        let verbose = conn.opts.verbose;
        conn.verified_hash = Some(pending.hash);
        self.bind(id, pending.then);
        self.connected(id, verbose);
        self.outputs.push_back(Output::ResumeReading(id));
        for data in held {
            self.on_received(id, data);
        }
    }

    /// Makes `id` the authenticated user `who`: its account and permissions.
    pub(crate) fn bind(&mut self, id: ConnId, who: Authenticated) {
        let Some(conn) = self.conn_mut(id) else { return };
        conn.authenticated = true;
        conn.auth_deadline = None;
        // A client keeps the account its subscriptions were made in.
        if conn.subs.is_empty() {
            conn.account = who.account;
        }
        conn.perms = who.permissions.as_deref().map(|p| Box::new(ClientPermissions::new(p)));
        conn.identity = who.identity;
    }

    /// An operation other than CONNECT arrived before the client authenticated: it becomes the
    /// `no_auth_user` if there is one, or is refused. False if refused.
    pub(crate) fn authenticate_implicitly(&mut self, id: ConnId) -> bool {
        match self.auth.no_auth_user() {
            Some(who) => {
                self.bind(id, who);
                true
            }
            None => {
                self.auth_violation(id, "authentication error".to_string());
                false
            }
        }
    }

    /// After a reload, as nats-server's `reloadAuthorization`: clients whose user or nkey is
    /// gone are closed quietly; the others authenticate again with what they sent, and are
    /// refused if that fails; survivors get their new permissions, and subscriptions those no
    /// longer allow are removed.
    pub(crate) fn recheck_clients(&mut self) {
        let ids: Vec<ConnId> = self.clients().filter(|c| c.authenticated).map(|c| c.id).collect();
        for id in ids {
            let Some(conn) = self.conn(id) else { continue };
            if !self.auth.required() {
                let who = Authenticated {
                    identity: Identity::Anonymous,
                    account: conn.account,
                    permissions: None,
                };
                self.bind(id, who);
                continue;
            }
            if !self.auth.knows(&conn.identity) {
                self.close(id, CloseReason::ClientClosed, true);
                continue;
            }
            let result = match &conn.identity {
                Identity::Anonymous => self.auth.no_auth_user().ok_or(()),
                _ => match self
                    .auth
                    .authenticate(&conn.opts, conn.nonce.as_deref(), conn.cert.as_ref())
                {
                    // The same hash the password was checked against: still good.
                    Decision::Check { check, then, .. }
                        if conn.verified_hash.as_deref() == Some(check.hash.as_str()) =>
                    {
                        Ok(then)
                    }
                    // A changed hash is checked here, on the core's thread: reloads are rare.
                    decision => decision.resolve().map_err(|_| ()),
                },
            };
            match result {
                Ok(who) if who.account == conn.account => {
                    self.bind(id, who);
                    self.drop_forbidden_subscriptions(id);
                }
                // A client whose user moved to another account is closed, as nats-server does.
                Ok(_) => self.close(id, CloseReason::ClientClosed, true),
                Err(()) => {
                    let log = self.auth.refusal(&conn.opts).log;
                    self.auth_violation(id, log);
                }
            }
        }
    }

    /// Removes the subscriptions a client's permissions no longer allow, telling it about each.
    fn drop_forbidden_subscriptions(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id.index as usize).filter(|c| c.id == id) else {
            return;
        };
        let Some(mut perms) = conn.perms.take() else { return };
        let account = conn.account;
        let who = crate::auth::describe_credentials(&conn.opts).unwrap_or_else(|| "User \"N/A\"".to_string());
        let mut forbidden = Vec::new();
        for (sid, key) in &conn.subs {
            if let Some(sub) = self.accounts[account.0 as usize].subs.get(key.0 as usize) {
                // nats-server keeps a queue subscription its plain subject would allow.
                let allowed = perms.may_subscribe(&sub.subject, None)
                    || (sub.queue.is_some() && perms.may_subscribe(&sub.subject, sub.queue.as_deref()));
                if !allowed {
                    forbidden.push((sid.clone(), *key, sub.subject.clone(), sub.queue.clone()));
                }
            }
        }
        conn.perms = Some(perms);
        for (sid, key, subject, queue) in forbidden {
            self.accounts[account.0 as usize].unsubscribe(key);
            if let Some(conn) = self.conn_mut(id) {
                conn.subs.remove(&sid);
            }
            let sid_text = crate::server::client::quoted(&sid);
            let target = match &queue {
                Some(q) => format!(
                    "{} using queue {}",
                    crate::server::client::quoted(&subject),
                    crate::server::client::quoted(q)
                ),
                None => crate::server::client::quoted(&subject),
            };
            self.send_err(
                id,
                &format!("Permissions Violation for Subscription to {target} (sid {sid_text})"),
            );
            self.log_conn(
                Level::Info,
                id,
                format!("Removed sub {target} (sid {sid_text}) for {who} - not authorized"),
            );
        }
    }
}

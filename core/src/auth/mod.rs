//! Authentication and authorization: who a client is, which account it joins, and what it may
//! publish and subscribe to.
//!
//! [`settings`] holds what the configuration says; [`Auth`] compiles it into lookup tables when
//! the server starts or reloads; [`Auth::authenticate`] decides each CONNECT the way
//! nats-server's `processClientOrLeafAuthentication` (server/auth.go) does.

pub mod credentials;
pub mod dn;
pub mod permissions;
pub mod settings;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::ids::AccountId;
use crate::proto::ConnectOptions;
use settings::{Authorization, Permissions};

/// nats-server's default `authorization { timeout }` (`AUTH_TIMEOUT`).
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// What a client's TLS certificate says about it, for `verify_and_map`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertIdentity {
    /// The subject in RFC 2253 form as Go prints it (`CN=alice,OU=eng,O=Acme,C=US`): known
    /// attributes only, in Go's order.
    pub subject: String,
    /// `subject` followed by the certificate's DC attributes, when it has any.
    pub subject_with_dcs: Option<String>,
    /// The subject's RDNs (last first, types upper-cased), when every attribute type is one
    /// nats-server's DN matching knows.
    pub rdns: Option<crate::auth::dn::Dn>,
    /// rfc822Name subject alternative names.
    pub emails: Vec<String>,
    /// dNSName subject alternative names.
    pub dns_names: Vec<String>,
    /// URI subject alternative names.
    pub uris: Vec<String>,
}

/// One user, as the server looks it up.
#[derive(Debug, Clone)]
pub struct UserEntry {
    /// The secret to check, if any (absent for certificate-mapped users and nkeys).
    secret: Option<String>,
    /// The account the user joins.
    pub account: AccountId,
    /// What the user may do, if restricted.
    pub permissions: Option<Arc<Permissions>>,
}

/// How a client authenticated, for log lines and monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No authentication configured.
    Anonymous,
    /// A named user (password, certificate or `no_auth_user`).
    User(String),
    /// An nkey user.
    Nkey(String),
    /// The shared token.
    Token,
}

/// A successful authentication.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who the client is.
    pub identity: Identity,
    /// The account it joins.
    pub account: AccountId,
    /// Its permissions, if restricted.
    pub permissions: Option<Arc<Permissions>>,
}

/// What a CONNECT's credentials lead to.
#[derive(Debug, Clone)]
pub enum Decision {
    /// The client is in.
    Accept(Authenticated),
    /// The client is refused.
    Refuse(Refused),
    /// The client is in if `check` passes (a bcrypt hash), refused with `refused` if not.
    Check {
        /// The comparison to run off the core's thread.
        check: credentials::PasswordCheck,
        /// Who the client is if it passes.
        then: Authenticated,
        /// What to log if it does not.
        refused: Refused,
    },
}

impl Decision {
    /// Runs a pending check inline (tests, and reload's rare re-check of changed passwords).
    pub fn resolve(self) -> Result<Authenticated, Refused> {
        match self {
            Decision::Accept(who) => Ok(who),
            Decision::Refuse(refused) => Err(refused),
            Decision::Check { check, then, refused } => {
                if check.run() {
                    Ok(then)
                } else {
                    Err(refused)
                }
            }
        }
    }
}

/// A refused authentication, with what nats-server logs about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The text after the connection's label: `authentication error - User "bob"`.
    pub log: String,
}

/// What the client presented, as nats-server names it in log lines (`getAuthUser`), if
/// anything.
pub fn describe_credentials(opts: &ConnectOptions) -> Option<String> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    if let Some(nkey) = given(&opts.nkey) {
        Some(format!("Nkey {nkey:?}"))
    } else if let Some(user) = given(&opts.user) {
        Some(format!("User {user:?}"))
    } else if given(&opts.jwt).is_some() {
        Some("JWT User \"\"".to_string())
    } else if given(&opts.auth_token).is_some() {
        Some("Token \"[REDACTED]\"".to_string())
    } else {
        None
    }
}

/// What `decide` found: an answer, or a secret still to compare.
enum Verdict<'a> {
    Accept(Authenticated),
    Compare {
        stored: &'a str,
        given: &'a str,
        then: Authenticated,
    },
}

/// The compiled authentication settings.
#[derive(Debug, Default)]
pub struct Auth {
    token: Option<String>,
    single_user: Option<(String, String)>,
    users: HashMap<String, UserEntry>,
    /// User names in configuration order, for deterministic certificate mapping.
    user_order: Vec<String>,
    nkeys: HashMap<String, UserEntry>,
    no_auth_user: Option<String>,
    /// Clients without credentials join `$G` unrestricted: nats-server's hidden no-auth user
    /// for a configuration that only gives the system account users.
    pub implicit_global_user: bool,
    /// Map users from TLS certificates (`verify_and_map`).
    pub tls_map: bool,
}

impl Auth {
    /// Compiles `auth`, resolving account names with `account_of` (unknown names join `$G`).
    pub fn new(
        auth: &Authorization,
        no_auth_user: Option<&str>,
        tls_map: bool,
        mut account_of: impl FnMut(&str) -> AccountId,
    ) -> Self {
        let default_permissions = auth.default_permissions.clone().map(Arc::new);
        let entry = |secret: Option<String>,
                     account: &str,
                     perms: &Option<Permissions>,
                     account_of: &mut dyn FnMut(&str) -> AccountId| UserEntry {
            secret,
            account: account_of(account),
            permissions: perms.clone().map(Arc::new).or_else(|| default_permissions.clone()),
        };
        let mut users = HashMap::new();
        let user_order = auth.users.iter().map(|u| u.name.clone()).collect();
        // A user limited to other connection kinds (websocket, MQTT, leaf) cannot log in as a
        // client.
        let standard = |types: &Option<Vec<String>>| types.as_ref().is_none_or(|t| t.iter().any(|k| k == "STANDARD"));
        for user in auth.users.iter().filter(|u| standard(&u.connection_types)) {
            users.insert(
                user.name.clone(),
                entry(user.password.clone(), &user.account, &user.permissions, &mut account_of),
            );
        }
        let mut nkeys = HashMap::new();
        for user in auth.nkeys.iter().filter(|u| standard(&u.connection_types)) {
            nkeys.insert(
                user.nkey.clone(),
                entry(None, &user.account, &user.permissions, &mut account_of),
            );
        }
        Auth {
            token: auth.token.clone(),
            single_user: auth
                .user
                .clone()
                .map(|u| (u, auth.password.clone().unwrap_or_default())),
            users,
            user_order,
            nkeys,
            no_auth_user: no_auth_user.map(str::to_string),
            implicit_global_user: false,
            tls_map,
        }
    }

    /// Whether clients must authenticate.
    pub fn required(&self) -> bool {
        self.token.is_some() || self.single_user.is_some() || !self.users.is_empty() || !self.nkeys.is_empty()
    }

    /// Whether INFO says `auth_required`: not when clients without credentials are let in as
    /// the configured `no_auth_user`.
    pub fn advertises_auth(&self) -> bool {
        self.required() && self.no_auth_user.is_none()
    }

    /// Whether INFO must carry a nonce for nkey signatures.
    pub fn wants_nonce(&self) -> bool {
        !self.nkeys.is_empty()
    }

    /// The `no_auth_user`, if it names a configured user: clients that present no credentials
    /// (or send an operation before CONNECT) become that user.
    pub fn no_auth_user(&self) -> Option<Authenticated> {
        if self.implicit_global_user && self.no_auth_user.is_none() {
            return Some(Authenticated {
                identity: Identity::Anonymous,
                account: AccountId(0),
                permissions: None,
            });
        }
        let name = self.no_auth_user.as_ref()?;
        let user = self.users.get(name)?;
        Some(Authenticated {
            identity: Identity::User(name.clone()),
            account: user.account,
            permissions: user.permissions.clone(),
        })
    }

    /// Whether a user of this name, or this nkey, is still configured (reload closes clients
    /// whose user went away).
    pub fn knows(&self, identity: &Identity) -> bool {
        match identity {
            Identity::User(name) => {
                self.users.contains_key(name) || self.single_user.as_ref().is_some_and(|(n, _)| n == name)
            }
            Identity::Nkey(key) => self.nkeys.contains_key(key),
            Identity::Token | Identity::Anonymous => true,
        }
    }

    /// Decides a CONNECT. `nonce` is the one sent in INFO; `cert` is the client's verified
    /// certificate, if any.
    pub fn authenticate(&self, opts: &ConnectOptions, nonce: Option<&str>, cert: Option<&CertIdentity>) -> Decision {
        match self.decide(opts, nonce, cert) {
            Ok(Verdict::Accept(who)) => Decision::Accept(who),
            Ok(Verdict::Compare { stored, given, then }) => {
                let refused = self.refusal(opts);
                if credentials::is_bcrypt(stored) {
                    Decision::Check {
                        check: credentials::PasswordCheck {
                            hash: stored.to_string(),
                            password: given.to_string(),
                        },
                        then,
                        refused,
                    }
                } else if credentials::constant_time_eq(stored.as_bytes(), given.as_bytes()) {
                    Decision::Accept(then)
                } else {
                    Decision::Refuse(refused)
                }
            }
            Err(refused) => Decision::Refuse(refused),
        }
    }

    /// The refusal for a client that presented `opts`, with nats-server's log text.
    pub fn refusal(&self, opts: &ConnectOptions) -> Refused {
        Refused {
            log: match describe_credentials(opts) {
                Some(who) => format!("authentication error - {who}"),
                None => "authentication error".to_string(),
            },
        }
    }

    /// The decision, short of comparing a secret.
    fn decide<'a>(
        &'a self,
        opts: &'a ConnectOptions,
        nonce: Option<&str>,
        cert: Option<&CertIdentity>,
    ) -> Result<Verdict<'a>, Refused> {
        let refuse = || self.refusal(opts);
        if !self.nkeys.is_empty() {
            if let Some(key) = opts.nkey.as_deref() {
                let user = self.nkeys.get(key).ok_or_else(refuse)?;
                credentials::verify_nkey_signature(key, nonce.unwrap_or("").as_bytes(), opts.sig.as_deref())
                    .map_err(|_| refuse())?;
                return Ok(Verdict::Accept(Authenticated {
                    identity: Identity::Nkey(key.to_string()),
                    account: user.account,
                    permissions: user.permissions.clone(),
                }));
            }
        }
        if !self.users.is_empty() {
            if self.tls_map {
                let (name, user) = cert.and_then(|c| self.map_certificate(c)).ok_or_else(refuse)?;
                return Ok(Verdict::Accept(Authenticated {
                    identity: Identity::User(name),
                    account: user.account,
                    permissions: user.permissions.clone(),
                }));
            }
            let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
            // Only a client that presents no credentials at all becomes the no_auth_user.
            if empty(&opts.user) && empty(&opts.pass) && empty(&opts.auth_token) {
                return self.no_auth_user().map(Verdict::Accept).ok_or_else(refuse);
            }
            let Some(name) = opts.user.as_deref().filter(|u| !u.is_empty()) else {
                return Err(refuse());
            };
            let password = opts.pass.as_deref().unwrap_or("");
            let user = self.users.get(name).ok_or_else(refuse)?;
            return Ok(Verdict::Compare {
                stored: user.secret.as_deref().unwrap_or(""),
                given: password,
                then: Authenticated {
                    identity: Identity::User(name.to_string()),
                    account: user.account,
                    permissions: user.permissions.clone(),
                },
            });
        }
        if let Some(token) = &self.token {
            return Ok(Verdict::Compare {
                stored: token,
                given: opts.auth_token.as_deref().unwrap_or(""),
                then: Authenticated {
                    identity: Identity::Token,
                    account: AccountId(0),
                    permissions: None,
                },
            });
        }
        if let Some((name, password)) = &self.single_user {
            if opts.user.as_deref() != Some(name.as_str()) {
                return Err(refuse());
            }
            return Ok(Verdict::Compare {
                stored: password,
                given: opts.pass.as_deref().unwrap_or(""),
                then: Authenticated {
                    identity: Identity::User(name.clone()),
                    account: AccountId(0),
                    permissions: None,
                },
            });
        }
        if self.required() {
            return Err(refuse());
        }
        Ok(Verdict::Accept(Authenticated {
            identity: Identity::Anonymous,
            account: AccountId(0),
            permissions: None,
        }))
    }

    /// The user a certificate names: an email, DNS or URI SAN, then the subject, as
    /// nats-server's `checkClientTLSCertSubject` tries them.
    fn map_certificate(&self, cert: &CertIdentity) -> Option<(String, &UserEntry)> {
        let lookup = |name: &String| self.users.get(name).map(|user| (name.clone(), user));
        if let Some(found) = cert
            .emails
            .iter()
            .chain(&cert.dns_names)
            .chain(&cert.uris)
            .find_map(lookup)
        {
            return Some(found);
        }
        // A user named by a DN that holds the certificate's RDNs: in order first, then in any
        // order. Users are tried in configuration order.
        if let Some(rdns) = &cert.rdns {
            let parsed: Vec<(&String, crate::auth::dn::Dn)> = self
                .user_order
                .iter()
                .filter_map(|name| Some((name, crate::auth::dn::parse_dn(name)?)))
                .collect();
            let in_order = |dn: &crate::auth::dn::Dn| {
                dn.len() == rdns.len() && dn.iter().zip(rdns).all(|(a, b)| crate::auth::dn::rdn_equal(a, b))
            };
            let any_order = |dn: &crate::auth::dn::Dn| {
                let mut unused: Vec<&crate::auth::dn::Rdn> = rdns.iter().collect();
                dn.len() == rdns.len()
                    && dn
                        .iter()
                        .all(|a| match unused.iter().position(|b| crate::auth::dn::rdn_equal(a, b)) {
                            Some(i) => {
                                unused.remove(i);
                                true
                            }
                            None => false,
                        })
            };
            for matches in [&in_order as &dyn Fn(&crate::auth::dn::Dn) -> bool, &any_order] {
                if let Some((name, _)) = parsed.iter().find(|(_, dn)| matches(dn)) {
                    return lookup(name);
                }
            }
        }
        cert.subject_with_dcs.iter().chain([&cert.subject]).find_map(lookup)
    }
}

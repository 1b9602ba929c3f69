//! The security sections of a configuration file: `authorization`, `accounts`, `no_auth_user`,
//! `system_account`, with nats-server's key names, aliases and error texts (server/opts.go:
//! parseAuthorization, parseUsers, parseUserPermissions, parseAccounts and their helpers).

use std::time::Duration;

use super::duration;
use super::format::{ConfError, Located, Location, Map, Value};
use crate::auth::settings::{
    AccountSpec, Authorization, Export, ExportKind, Import, NkeyUser, Permissions, ResponsePermission, ResponseType,
    SubjectPermission, User, DEFAULT_RESPONSE_THRESHOLD,
};
use crate::ids::{GLOBAL_ACCOUNT, SYSTEM_ACCOUNT};
use crate::subject;

/// An error at `at`.
fn err(at: &Located, message: impl Into<String>) -> ConfError {
    ConfError {
        at: Some(at.at.clone()),
        message: message.into(),
    }
}

fn unknown_field(key: &str, key_at: &super::format::Location) -> ConfError {
    ConfError {
        at: Some(key_at.clone()),
        message: format!("unknown field {key:?}"),
    }
}

fn as_map<'a>(value: &'a Located, what: &str) -> Result<&'a Map, ConfError> {
    match &value.value {
        Value::Map(map) => Ok(map),
        other => Err(err(
            value,
            format!("Expected {what} to be a map/struct, got {}", go_value(other)),
        )),
    }
}

/// A value as Go's `%v` prints it in nats-server's messages.
pub(super) fn go_value(value: &Value) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| go_value(&i.value)).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(_) => "map[...]".to_string(),
    }
}

fn text(value: &Located) -> Result<String, ConfError> {
    match &value.value {
        Value::String(s) => Ok(s.clone()),
        // nats-server accepts numbers where it expects a password or token and uses their text.
        Value::Int(n) => Ok(n.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        other => Err(err(
            value,
            format!("interface conversion: interface {{}} is {}, not string", other.kind()),
        )),
    }
}

/// The `authorization` block.
pub fn parse_authorization(
    block: &Located,
    auth: &mut Authorization,
    skipped: &mut Vec<(String, Location)>,
) -> Result<(), Vec<ConfError>> {
    let map = as_map(block, "authorization").map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut users = None;
    let mut user = None;
    let mut password = None;
    let mut token = None;
    for (key, key_at, value) in &map.entries {
        // nats-server places errors about a value at its key.
        let value = &Located {
            value: value.value.clone(),
            at: key_at.clone(),
        };
        let result: Result<(), ConfError> = (|| {
            match key.to_ascii_lowercase().as_str() {
                "user" | "username" => user = Some(text(value)?),
                "pass" | "password" => password = Some(text(value)?),
                "token" => token = Some(text(value)?),
                "timeout" => {
                    auth.timeout = Some(match &value.value {
                        Value::Int(n) if *n >= 0 => Duration::from_secs(*n as u64),
                        Value::Float(f) if *f >= 0.0 && f.is_finite() => Duration::from_secs_f64(*f),
                        Value::String(s) => {
                            duration::parse(s).map_err(|e| err(value, format!("error parsing timeout: {e}")))?
                        }
                        other => {
                            return Err(err(
                                value,
                                format!("Expected auth timeout to be a number, got {}", go_value(other)),
                            ))
                        }
                    })
                }
                "users" => users = Some(parse_users(value, GLOBAL_ACCOUNT)?),
                // Known to nats-server, not built here: reported at start-up.
                "auth_callout" | "callout" | "proxy_required" => {
                    skipped.push((format!("authorization.{key}"), key_at.clone()))
                }
                "default_permission" | "default_permissions" | "permissions" => {
                    auth.default_permissions = Some(parse_permissions(value, "default permissions")?)
                }

                _ if map.used_as_variables.iter().any(|v| v == key) => {}
                _ => return Err(unknown_field(key, key_at)),
            }
            Ok(())
        })();
        if let Err(e) = result {
            errors.push(e);
        }
    }
    let top = |message: &str| ConfError {
        at: None,
        message: message.to_string(),
    };
    if (user.is_some() || password.is_some()) && token.is_some() {
        errors.push(top("Cannot have a user/pass and token"));
    }
    if let Some((list, nkeys)) = users {
        if user.is_some() {
            errors.push(top("Can not have a single user/pass and a users array"));
        }
        if token.is_some() {
            errors.push(top("Can not have a token and a users array"));
        }
        auth.users.extend(list);
        auth.nkeys.extend(nkeys);
    }
    auth.user = user.or(auth.user.take());
    auth.password = password.or(auth.password.take());
    auth.token = token.or(auth.token.take());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A `users` array: users with passwords, and nkey users.
pub fn parse_users(value: &Located, account: &str) -> Result<(Vec<User>, Vec<NkeyUser>), ConfError> {
    let Value::Array(items) = &value.value else {
        return Err(err(
            value,
            format!("Expected users field to be an array, got {}", go_value(&value.value)),
        ));
    };
    let mut users = Vec::new();
    let mut nkeys = Vec::new();
    for item in items {
        let map = match &item.value {
            Value::Map(map) => map,
            other => {
                return Err(err(
                    item,
                    format!("Expected user entry to be a map/struct, got {}", go_value(other)),
                ))
            }
        };
        let mut name = None;
        let mut password = None;
        let mut nkey = None;
        let mut permissions = None;
        let mut connection_types: Option<Vec<String>> = None;
        for (key, key_at, value) in &map.entries {
            // nats-server places errors about a value at its key.
            let value = &Located {
                value: value.value.clone(),
                at: key_at.clone(),
            };
            match key.to_ascii_lowercase().as_str() {
                "nkey" => nkey = Some(text(value)?),
                "user" | "username" => name = Some(text(value)?),
                "pass" | "password" => password = Some(text(value)?),
                "permission" | "permissions" => permissions = Some(parse_permissions(value, "user permissions")?),
                "allowed_connection_types" | "connection_types" | "clients" => {
                    let list = match &value.value {
                        Value::Array(items) => items.iter().map(text).collect::<Result<Vec<_>, _>>()?,
                        _ => vec![text(value)?],
                    };
                    connection_types = Some(list.iter().map(|t| t.to_ascii_uppercase()).collect::<Vec<_>>());
                }
                _ if map.used_as_variables.iter().any(|v| v == key) => {}
                _ => return Err(unknown_field(key, key_at)),
            }
        }
        match (nkey, name) {
            (Some(nkey), name) => {
                if !crate::auth::credentials::is_valid_user_nkey(&nkey) {
                    return Err(err(item, "Not a valid public nkey for a user"));
                }
                if name.is_some() || password.is_some() {
                    return Err(err(item, "Nkey users do not take usernames or passwords"));
                }
                nkeys.push(NkeyUser {
                    nkey,
                    account: account.to_string(),
                    permissions,
                    connection_types,
                });
            }
            (None, Some(name)) => users.push(User {
                name,
                password,
                account: account.to_string(),
                permissions,
                connection_types,
            }),
            (None, None) => return Err(err(item, "User entry requires a user")),
        }
    }
    Ok((users, nkeys))
}

/// A `permissions` map: `publish`, `subscribe`, `allow_responses` (and their old names).
pub fn parse_permissions(value: &Located, what: &str) -> Result<Permissions, ConfError> {
    let map = as_map(value, what)?;
    let mut perms = Permissions::default();
    for (key, key_at, value) in &map.entries {
        // nats-server places errors about a value at its key.
        let value = &Located {
            value: value.value.clone(),
            at: key_at.clone(),
        };
        match key.to_ascii_lowercase().as_str() {
            "pub" | "publish" | "import" => perms.publish = Some(parse_subject_permission(value)?),
            "sub" | "subscribe" | "export" => perms.subscribe = Some(parse_subject_permission(value)?),
            "resp" | "allow_responses" | "publish_allow_responses" => perms.response = parse_allow_responses(value)?,
            _ if map.used_as_variables.iter().any(|v| v == key) => {}
            _ => {
                return Err(ConfError {
                    at: Some(key_at.clone()),
                    message: format!("Unknown field {key:?} parsing permissions"),
                })
            }
        }
    }
    // A user allowed to respond but given no publish list may publish responses only.
    if perms.response.is_some() && perms.publish.is_none() {
        perms.publish = Some(SubjectPermission {
            allow: Some(Vec::new()),
            deny: None,
        });
    }
    Ok(perms)
}

/// `allow_responses: true`, or a map with `max` and `expires`.
fn parse_allow_responses(value: &Located) -> Result<Option<ResponsePermission>, ConfError> {
    match &value.value {
        Value::Bool(true) => Ok(Some(ResponsePermission::default())),
        Value::Bool(false) => Ok(None),
        Value::Map(map) => {
            let mut perm = ResponsePermission::default();
            for (key, key_at, value) in &map.entries {
                // nats-server places errors about a value at its key.
                let value = &Located {
                    value: value.value.clone(),
                    at: key_at.clone(),
                };
                match key.to_ascii_lowercase().as_str() {
                    "max" | "max_msgs" | "max_messages" | "max_responses" => match value.value {
                        // 0 means the default; a negative number means no limit.
                        Value::Int(0) => {}
                        Value::Int(n) => perm.max_msgs = n,
                        _ => return Err(err(value, "error parsing max responses, expected an integer")),
                    },
                    "expires" | "expiration" | "ttl" => {
                        let expires = match &value.value {
                            Value::String(s) => {
                                duration::parse(s).map_err(|e| err(value, format!("error parsing expires: {e}")))?
                            }
                            _ => return Err(err(value, "error parsing expires, not a duration string")),
                        };
                        if expires != Duration::ZERO {
                            perm.expires = expires;
                        }
                    }
                    _ if map.used_as_variables.iter().any(|v| v == key) => {}
                    _ => {
                        return Err(ConfError {
                            at: Some(key_at.clone()),
                            message: format!("Unknown field {key:?} parsing allow responses"),
                        })
                    }
                }
            }
            Ok(Some(perm))
        }
        other => Err(err(
            value,
            format!(
                "error parsing response permissions, expected a boolean or a map, got {}",
                go_value(other)
            ),
        )),
    }
}

/// `{allow: ..., deny: ...}`, or the old style: a subject or list of subjects to allow.
fn parse_subject_permission(value: &Located) -> Result<SubjectPermission, ConfError> {
    match &value.value {
        Value::Map(map) => {
            let mut perm = SubjectPermission::default();
            for (key, key_at, value) in &map.entries {
                // nats-server places errors about a value at its key.
                let value = &Located {
                    value: value.value.clone(),
                    at: key_at.clone(),
                };
                match key.to_ascii_lowercase().as_str() {
                    "allow" => perm.allow = Some(subject_list(value)?),
                    "deny" => perm.deny = Some(subject_list(value)?),
                    _ if map.used_as_variables.iter().any(|v| v == key) => {}
                    _ => {
                        return Err(ConfError {
                            at: Some(key_at.clone()),
                            message: format!(
                                "Unknown field name {key:?} parsing subject permissions, only 'allow' or 'deny' are permitted"
                            ),
                        })
                    }
                }
            }
            Ok(perm)
        }
        _ => Ok(SubjectPermission {
            allow: Some(subject_list(value)?),
            deny: None,
        }),
    }
}

/// One subject or an array of them; each is `subject` or `subject queue`.
fn subject_list(value: &Located) -> Result<Vec<String>, ConfError> {
    let items: Vec<&Located> = match &value.value {
        Value::Array(items) => items.iter().collect(),
        _ => vec![value],
    };
    let mut subjects = Vec::new();
    for item in items {
        let Value::String(s) = &item.value else {
            return Err(err(
                item,
                format!("Subject {:?} is not a valid subject", go_value(&item.value)),
            ));
        };
        let mut parts = s.split_whitespace();
        let subject = parts.next().unwrap_or("");
        let queue = parts.next();
        let valid = subject::is_valid_subject(subject.as_bytes())
            && parts.next().is_none()
            && queue.is_none_or(|q| subject::is_valid_subject(q.as_bytes()));
        if !valid {
            return Err(err(item, format!("subject {s:?} is not a valid subject")));
        }
        subjects.push(s.clone());
    }
    Ok(subjects)
}

/// The `accounts` block: each account's users (appended to `auth`), exports and imports.
pub fn parse_accounts(
    block: &Located,
    auth: &mut Authorization,
    skipped: &mut Vec<(String, Location)>,
) -> Result<Vec<AccountSpec>, Vec<ConfError>> {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    match &block.value {
        // `accounts: [A, B]`: accounts with nothing in them.
        Value::Array(items) => {
            for item in items {
                match &item.value {
                    Value::String(name) if name == GLOBAL_ACCOUNT => {
                        errors.push(err(item, format!("{name:?} is a Reserved Account")))
                    }
                    Value::String(name) => {
                        if specs.iter().any(|s: &AccountSpec| &s.name == name) {
                            errors.push(err(item, format!("Duplicate Account Entry: {name}")));
                        }
                        specs.push(AccountSpec {
                            name: name.clone(),
                            ..AccountSpec::default()
                        })
                    }
                    other => errors.push(err(
                        item,
                        format!("Expected account name to be a string, got {}", go_value(other)),
                    )),
                }
            }
        }
        Value::Map(map) => {
            for (name, key_at, value) in &map.entries {
                let value = &Located {
                    value: value.value.clone(),
                    at: key_at.clone(),
                };
                if name == GLOBAL_ACCOUNT {
                    errors.push(ConfError {
                        at: Some(key_at.clone()),
                        message: format!("{name:?} is a Reserved Account"),
                    });
                    continue;
                }
                if !matches!(value.value, Value::Map(_)) {
                    errors.push(err(value, "Expected map entries for accounts"));
                    continue;
                }
                match parse_account(name, value, auth, skipped) {
                    // A name given twice: the last block wins, as in nats-server.
                    Ok(spec) => {
                        specs.retain(|s: &AccountSpec| s.name != spec.name);
                        specs.push(spec)
                    }
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        _ => errors.push(err(block, "Expected map entries for accounts")),
    }
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(errors)
    }
}

fn parse_account(
    name: &str,
    value: &Located,
    auth: &mut Authorization,
    skipped: &mut Vec<(String, Location)>,
) -> Result<AccountSpec, Vec<ConfError>> {
    let mut spec = AccountSpec {
        name: name.to_string(),
        ..AccountSpec::default()
    };
    let Value::Map(map) = &value.value else {
        // An account given as a bare value has no users, exports or imports.
        return Ok(spec);
    };
    let mut errors = Vec::new();
    for (key, key_at, value) in &map.entries {
        // nats-server places errors about a value at its key.
        let value = &Located {
            value: value.value.clone(),
            at: key_at.clone(),
        };
        let result = match key.to_ascii_lowercase().as_str() {
            "users" => parse_users(value, name).map(|(users, nkeys)| {
                auth.users.extend(users);
                auth.nkeys.extend(nkeys);
            }),
            "exports" => parse_exports(value).map(|exports| spec.exports = exports),
            "imports" => parse_imports(value).map(|imports| spec.imports = imports),
            "jetstream" => match super::jetstream::parse_account(&value.value, &value.at) {
                Ok((limits, unknown)) => {
                    spec.jetstream = limits.is_some();
                    spec.jetstream_limits = limits.unwrap_or_default();
                    errors.extend(unknown);
                    Ok(())
                }
                Err(error) => Err(error),
            },
            // Known to nats-server, not built here: reported at start-up.
            "default_permissions" | "limits" | "mappings" | "maps" | "nkey" | "msg_trace" | "trace_dest" => {
                skipped.push((format!("accounts.{name}.{key}"), key_at.clone()));
                Ok(())
            }
            _ if map.used_as_variables.iter().any(|v| v == key) => Ok(()),
            _ => Err(unknown_field(key, key_at)),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(errors)
    }
}

fn entries(value: &Located, what: &str, item: &str) -> Result<Vec<(Located, Map)>, ConfError> {
    let Value::Array(items) = &value.value else {
        return Err(err(
            value,
            format!("{what} should be an array, got {}", go_type(&value.value)),
        ));
    };
    items
        .iter()
        .map(|entry| match &entry.value {
            Value::Map(map) => Ok((entry.clone(), map.clone())),
            other => Err(err(
                entry,
                format!("{item} Items should be a map with type entry, got {}", go_type(other)),
            )),
        })
        .collect()
}

/// A value's Go type as `%T` prints it.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Map(_) => "map[string]interface {}",
        other => other.kind(),
    }
}

fn parse_exports(value: &Located) -> Result<Vec<Export>, ConfError> {
    let mut exports = Vec::new();
    for (item, map) in entries(value, "Exports", "Export")? {
        let mut kind: Option<ExportKind> = None;
        let mut subject = None;
        let mut accounts = None;
        let mut response_type = None;
        let mut threshold = None;
        let mut directive_at = None;
        for (key, key_at, value) in &map.entries {
            // nats-server places errors about a value at its key.
            let value = &Located {
                value: value.value.clone(),
                at: key_at.clone(),
            };
            match key.to_ascii_lowercase().as_str() {
                "stream" | "service" => {
                    let this = ExportKind::from_key(key);
                    let name = this.name();
                    let s = match &value.value {
                        Value::String(s) => s.clone(),
                        other => {
                            return Err(err(
                                value,
                                format!("Expected {name} name to be string, got {}", go_type(other)),
                            ))
                        }
                    };
                    if let Some(seen) = kind {
                        if seen != this {
                            let other = seen.name();
                            return Err(err(value, format!("Detected {name} {s:?} but already saw a {other}")));
                        }
                    }
                    if !subject::is_valid_subject(s.as_bytes()) {
                        return Err(err(
                            value,
                            format!("Error adding {name} export {s:?}: sublist: invalid subject"),
                        ));
                    }
                    kind = Some(this);
                    subject = Some(s);
                }
                "accounts" => {
                    let Value::Array(names) = &value.value else {
                        return Err(err(value, "Expected accounts to be an array"));
                    };
                    let names = names.iter().map(text).collect::<Result<Vec<_>, _>>()?;
                    // An empty list makes the export public, as in nats-server.
                    accounts = (!names.is_empty()).then_some(names);
                }
                "response" | "response_type" => {
                    directive_at = Some(key_at.clone());
                    let t = text(value)?;
                    response_type = Some(match t.to_ascii_lowercase().as_str() {
                        "single" | "singleton" => ResponseType::Singleton,
                        "stream" => ResponseType::Stream,
                        "chunk" | "chunked" => ResponseType::Chunked,
                        _ => return Err(err(value, format!("Unknown response type: {t:?}"))),
                    });
                }
                "threshold" | "response_threshold" | "response_max_time" | "response_time" => {
                    directive_at = Some(key_at.clone());
                    threshold = Some(match &value.value {
                        Value::String(s) => duration::parse(s)
                            .map_err(|e| err(value, format!("error parsing response threshold: {e}")))?,
                        Value::Int(n) if *n >= 0 => Duration::from_secs(*n as u64),
                        other => {
                            return Err(err(
                                value,
                                format!("Expected response threshold to be a duration, got {}", go_value(other)),
                            ))
                        }
                    });
                }
                _ if map.used_as_variables.iter().any(|v| v == key) => {}
                _ => return Err(unknown_field(key, key_at)),
            }
        }
        let (Some(kind), Some(subject)) = (kind, subject) else {
            return Err(err(&item, "Expected a stream or service in the export"));
        };
        if let (ExportKind::Stream, Some(at)) = (kind, directive_at) {
            return Err(ConfError {
                at: Some(at),
                message: "Detected response directive on non-service".to_string(),
            });
        }
        exports.push(Export {
            kind,
            subject,
            accounts,
            response_type: response_type.unwrap_or_default(),
            response_threshold: threshold.unwrap_or(DEFAULT_RESPONSE_THRESHOLD),
        });
    }
    Ok(exports)
}

fn parse_imports(value: &Located) -> Result<Vec<Import>, ConfError> {
    let mut imports = Vec::new();
    for (item, map) in entries(value, "Imports", "Import")? {
        let mut source: Option<(ExportKind, String, String)> = None;
        let mut to = None;
        let mut prefix = None;
        for (key, key_at, value) in &map.entries {
            // nats-server places errors about a value at its key.
            let value = &Located {
                value: value.value.clone(),
                at: key_at.clone(),
            };
            match key.to_ascii_lowercase().as_str() {
                "stream" | "service" => {
                    let kind = ExportKind::from_key(key);
                    let name = kind.name();
                    let title = if kind == ExportKind::Stream {
                        "Stream"
                    } else {
                        "Service"
                    };
                    if let Some((seen, _, subject)) = &source {
                        let other = seen.name();
                        return Err(err(
                            value,
                            format!("Detected {name} {subject:?} but already saw a {other}"),
                        ));
                    }
                    let Value::Map(inner) = &value.value else {
                        return Err(err(
                            value,
                            format!("{title} entry should be an account map, got {}", go_type(&value.value)),
                        ));
                    };
                    let account = inner.get("account").map(text).transpose()?;
                    let subject = inner.get("subject").map(text).transpose()?;
                    let (Some(account), Some(subject)) = (account, subject) else {
                        return Err(err(value, "Expect an account name and a subject"));
                    };
                    if account.is_empty() || subject.is_empty() {
                        return Err(err(value, "Expect an account name and a subject"));
                    }
                    if !subject::is_valid_subject(subject.as_bytes()) {
                        return Err(err(
                            value,
                            format!("Error adding {name} import {subject:?}: sublist: invalid subject"),
                        ));
                    }
                    source = Some((kind, account, subject));
                }
                "to" => to = Some(text(value)?),
                "prefix" => prefix = Some(text(value)?),
                "share" | "allow_trace" => {}
                _ if map.used_as_variables.iter().any(|v| v == key) => {}
                _ => return Err(unknown_field(key, key_at)),
            }
        }
        let Some((kind, account, subject)) = source else {
            return Err(err(&item, "Expected a stream or service in the import"));
        };
        let local_subject = match (kind, to, prefix) {
            (_, Some(_), Some(_)) => {
                return Err(err(&item, "Stream import can not have a 'prefix' and a 'to' property"))
            }
            (ExportKind::Stream, None, Some(prefix)) => {
                if subject::has_wildcard(prefix.as_bytes()) {
                    return Err(err(
                        &item,
                        format!(
                            "Error adding stream import {subject:?}: stream import prefix can not contain wildcard tokens"
                        ),
                    ));
                }
                format!("{}.{subject}", prefix.trim_end_matches('.'))
            }
            (_, Some(to), None) => to,
            // nats-server ignores a prefix on a service import.
            (_, None, _) => subject.clone(),
        };
        if !subject::is_valid_subject(local_subject.as_bytes()) {
            return Err(err(&item, format!("invalid subject {local_subject:?}")));
        }
        imports.push(Import {
            kind,
            account,
            subject,
            local_subject,
        });
    }
    Ok(imports)
}

/// Checks that tie the sections together: every name refers to something that exists, and
/// every import is exported to its importer. Errors about accounts are placed at `accounts_at`
/// (the `accounts` key), as nats-server places them.
pub fn validate(config: &super::Config, accounts_at: Option<&super::format::Location>) -> Vec<ConfError> {
    let mut errors = Vec::new();
    let at = |message: String| ConfError {
        at: accounts_at.cloned(),
        message,
    };
    let plain = |message: String| ConfError { at: None, message };
    let auth = &config.authorization;
    let account_exists =
        |name: &str| name == GLOBAL_ACCOUNT || name == SYSTEM_ACCOUNT || config.accounts.iter().any(|a| a.name == name);
    if !config.accounts.is_empty() {
        if auth.user.is_some() {
            errors.push(plain("Can not have a single user/pass and accounts".to_string()));
        }
        if auth.token.is_some() {
            errors.push(plain("Can not have a token and accounts".to_string()));
        }
    }
    if let Some(user) = &config.no_auth_user {
        if !auth.users.iter().any(|u| &u.name == user) {
            errors.push(plain(format!(
                "no_auth_user: {user:?} not present as user in authorization block or account configuration"
            )));
        }
    }
    if let Some(system) = &config.system_account {
        if !account_exists(system) {
            errors.push(plain("error resolving system account: account missing".to_string()));
        }
    }
    for (i, user) in auth.users.iter().enumerate() {
        if auth.users[..i].iter().any(|u| u.name == user.name) {
            errors.push(at(format!("Duplicate user {:?} detected", user.name)));
        }
    }
    for (i, user) in auth.nkeys.iter().enumerate() {
        if auth.nkeys[..i].iter().any(|u| u.nkey == user.nkey) {
            errors.push(at(format!("Duplicate nkey {:?} detected", user.nkey)));
        }
    }
    for spec in &config.accounts {
        for export in &spec.exports {
            let kind = export.kind.name();
            for name in export.accounts.iter().flatten() {
                if !account_exists(name) {
                    errors.push(at(format!("{name:?} account not defined for {kind} export")));
                }
            }
        }
    }
    for spec in &config.accounts {
        for import in &spec.imports {
            let kind = import.kind.name();
            let Some(exporter) = config.accounts.iter().find(|a| a.name == import.account) else {
                errors.push(at(format!(
                    "{:?} account not defined for {kind} import",
                    import.account
                )));
                continue;
            };
            let exported = exporter.exports.iter().any(|e| {
                e.kind == import.kind
                    && crate::auth::permissions::is_subset(import.subject.as_bytes(), e.subject.as_bytes())
                    && e.accounts.as_ref().is_none_or(|allowed| allowed.contains(&spec.name))
            });
            if !exported {
                errors.push(at(format!(
                    "Error adding {kind} import {:?}: {kind} import not authorized",
                    import.subject
                )));
            }
        }
    }
    errors
}

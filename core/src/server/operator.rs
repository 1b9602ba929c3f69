//! Operator commands: configuration reload and lame duck mode (nats-server's reload.go and
//! `lameDuckMode`). They arrive as inputs, so they are as deterministic as everything else.

use std::time::Duration;

use crate::config::Config;
use crate::conn::{CloseReason, ConnId};
use crate::proto::ParserLimits;
use crate::server::{Level, Output, Server};

/// The shortest pause between two lame-duck closes; below it, clients are closed in batches.
const MIN_LAME_DUCK_INTERVAL: Duration = Duration::from_millis(1);

/// What a reload may not change in JetStream, in nats-server's words (reload.go): the store
/// directory, a smaller `max_memory_store`/`max_file_store`, the domain, `strict`, the unique
/// tag and the sync interval. Turning JetStream on or off needs a restart here (nats-server
/// starts or stops it; docs/compatibility.md).
fn jetstream_refusals(current: &Config, next: &Config) -> Vec<String> {
    let (Some(old), Some(new)) = (&current.jetstream, &next.jetstream) else {
        return if current.jetstream.is_some() != next.jetstream.is_some() {
            vec!["JetStream: enabling or disabling it needs a restart".to_string()]
        } else {
            Vec::new()
        };
    };
    let mut refused = Vec::new();
    if new.store_dir != old.store_dir {
        refused.push("jetstream storage directory".to_string());
    }
    if new.max_memory < old.max_memory || new.max_store < old.max_store {
        refused.push("decreasing jetstream max memory and store".to_string());
    }
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    if new.domain != old.domain {
        refused.push(format!(
            "JetStreamDomain: old={}, new={}",
            text(&old.domain),
            text(&new.domain)
        ));
    }
    if new.strict != old.strict {
        refused.push(format!("JetStreamStrict: old={}, new={}", old.strict, new.strict));
    }
    if new.unique_tag != old.unique_tag {
        refused.push(format!(
            "JetStreamUniqueTag: old={}, new={}",
            text(&old.unique_tag),
            text(&new.unique_tag)
        ));
    }
    if new.sync != old.sync {
        refused.push("SyncInterval".to_string());
    }
    refused
}

impl Server {
    /// Applies a reloaded configuration, or refuses it whole if it changes what needs a restart.
    pub(crate) fn reload(&mut self, mut next: Config) {
        let current = &self.config;
        let mut refused = Vec::new();
        if next.host != current.host {
            refused.push(format!("Host: old={}, new={}", current.host, next.host));
        }
        // A free port picked at start-up (`port: -1`) is not a change.
        if next.port != current.port && next.port != 0 {
            refused.push(format!("Port: old={}, new={}", current.port, next.port));
        }
        if next.server_name != current.server_name {
            let show = |n: &Option<String>| n.clone().unwrap_or_default();
            refused.push(format!(
                "ServerName: old={}, new={}",
                show(&current.server_name),
                show(&next.server_name)
            ));
        }
        if next.tls != current.tls {
            refused.push("TLSConfig".to_string());
        }
        if next.runtime.is_some() && next.runtime != current.runtime {
            refused.push("runtime".to_string());
        }
        // Routes are set up at start-up; a free route port picked then is not a change.
        let mut next_cluster = next.cluster.clone();
        if let (Some(next_c), Some(current_c)) = (next_cluster.as_mut(), current.cluster.as_ref()) {
            if next_c.port == 0 {
                next_c.port = current_c.port;
            }
        }
        if next_cluster != current.cluster {
            refused.push("Cluster".to_string());
        }
        refused.extend(jetstream_refusals(current, &next));
        if !refused.is_empty() {
            let message = format!(
                "Failed to reload server configuration: config reload not supported for {}",
                refused.join(", ")
            );
            self.log(Level::Error, || message);
            return;
        }
        // What the file cannot say is kept.
        next.port = current.port;
        next.seed = current.seed;
        next.toolchain = current.toolchain.clone();
        next.runtime = current.runtime.clone();
        let payload_changed = next.max_payload != current.max_payload;
        let security_changed = next.authorization != current.authorization
            || next.accounts != current.accounts
            || next.no_auth_user != current.no_auth_user
            || next.system_account != current.system_account
            || next.no_system_account != current.no_system_account;
        self.config = next;
        if security_changed {
            self.configure_security();
            self.recheck_clients();
        }
        let limits = ParserLimits {
            max_control_line: self.config.max_control_line,
            max_payload: self.config.max_payload,
            headers: false,
            route: false,
        };
        let ids: Vec<ConnId> = self.clients().map(|c| c.id).collect();
        for id in ids {
            let Some(conn) = self.conn_mut(id) else { continue };
            let headers = conn.parser.limits().headers;
            conn.parser.set_limits(ParserLimits { headers, ..limits });
            // Clients learn the new limit from an INFO, as nats-server tells them.
            if payload_changed && conn.opts.protocol >= 1 {
                let (cid, peer, nonce) = (conn.cid, conn.peer, conn.nonce.clone());
                let info = self.client_info(cid, peer, nonce.as_deref());
                self.send(id, &info);
            }
        }
        self.log(Level::Info, || "Reloaded server configuration".to_string());
    }

    /// Starts lame duck mode.
    pub(crate) fn enter_lame_duck(&mut self) {
        if self.lame_duck_at.is_some() || self.shutting_down {
            return;
        }
        self.log(Level::Info, || {
            "Entering lame duck mode, stop accepting new clients".to_string()
        });
        self.outputs.push_back(Output::StopAccepting);
        let grace = self.config.lame_duck_grace_period;
        let duration = self.config.lame_duck_duration.saturating_sub(grace);
        let clients = self.connection_count().max(1);
        let mut interval = duration / clients as u32;
        let mut batch = 1;
        if interval < MIN_LAME_DUCK_INTERVAL {
            interval = MIN_LAME_DUCK_INTERVAL;
            let steps = (duration.as_millis() as usize).max(1);
            batch = clients.div_ceil(steps);
        }
        self.lame_duck_interval = interval;
        self.lame_duck_batch = batch;
        let first = self.now + grace;
        self.lame_duck_at = Some(first);
        self.announce_lame_duck_to_routes();
        // Tell every client that can hear it, so it can reconnect elsewhere before we close it.
        let ids: Vec<ConnId> = self.clients().map(|c| c.id).collect();
        for id in ids {
            let Some(conn) = self.conn(id) else { continue };
            if conn.opts.protocol >= 1 {
                let (cid, peer, nonce) = (conn.cid, conn.peer, conn.nonce.clone());
                let info = self.client_info(cid, peer, nonce.as_deref());
                self.send(id, &info);
            }
        }
    }

    /// Closes the next batch of clients; exits when none are left.
    pub(crate) fn lame_duck_step(&mut self) {
        let ids: Vec<ConnId> = self.clients().take(self.lame_duck_batch).map(|c| c.id).collect();
        for id in ids {
            self.close(id, CloseReason::ServerShutdown, true);
        }
        if self.connection_count() == 0 {
            self.lame_duck_at = None;
            self.log(Level::Info, || "Lame duck mode complete, shutting down".to_string());
            self.shutdown();
            return;
        }
        let next = self.now + self.lame_duck_interval;
        self.lame_duck_at = Some(next);
    }
}

//! Several servers in one virtual time, their routes wired to each other in memory: what one
//! node writes on a route is what the other node reads. Dials are answered by the mesh (a node
//! named `n<i>` listens for routes at `n<i>:6222`), so gossip forms the mesh as it would on a
//! network. Links can be cut (bytes held, as TCP holds them, and delivered when healed).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::Harness;
use crate::config::cluster::{ClusterSettings, RouteUrl};
use crate::{CloseReason, Config, ConnId, Input};

/// The route port every node listens on.
pub const ROUTE_PORT: u16 = 6222;

/// Rounds of delivery before [`Mesh::settle`] gives up: the nodes keep talking forever.
const MAX_ROUNDS: usize = 10_000;

/// A route connection between two nodes: (node, connection) at each end.
struct Link {
    ends: [(usize, ConnId); 2],
    open: bool,
}

/// N servers and the routes between them.
pub struct Mesh {
    /// The nodes; node `i` is named `n<i>`.
    pub nodes: Vec<Harness>,
    links: Vec<Link>,
    /// Pairs of nodes (lower index first) whose links hold their bytes.
    cut: BTreeSet<(usize, usize)>,
    next_port: u16,
}

/// Node `i`'s address.
fn ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250) as u8 + 1)
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Mesh {
    /// `n` servers in cluster `mesh`, every one but `n0` told only of `n0`'s route URL, so
    /// gossip must close the mesh; `tweak` adjusts each node's configuration. Call
    /// [`Mesh::settle`] (or [`Mesh::advance`]) to let the routes form.
    pub fn new(n: usize, tweak: impl Fn(usize, &mut Config)) -> Mesh {
        let nodes = (0..n)
            .map(|i| {
                let routes = if i == 0 {
                    Vec::new()
                } else {
                    RouteUrl::parse(&format!("nats-route://n0:{ROUTE_PORT}"))
                        .into_iter()
                        .collect()
                };
                let mut config = Config {
                    server_name: Some(format!("n{i}")),
                    seed: i as u64 + 1,
                    cluster: Some(ClusterSettings {
                        name: Some("mesh".to_string()),
                        port: ROUTE_PORT,
                        advertise: Some(format!("n{i}:{ROUTE_PORT}")),
                        routes,
                        ..ClusterSettings::default()
                    }),
                    ..Config::default()
                };
                tweak(i, &mut config);
                Harness::new(config)
            })
            .collect();
        Mesh {
            nodes,
            links: Vec::new(),
            cut: BTreeSet::new(),
            next_port: 40_000,
        }
    }

    /// Registered routes of node `i`.
    pub fn routes(&self, i: usize) -> usize {
        self.nodes[i].server.route_count()
    }

    /// Holds everything between nodes `a` and `b` until [`Mesh::heal`]; dials between them fail.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.cut.insert(pair(a, b));
    }

    /// Lets what was held between `a` and `b` through, and then everything after it.
    pub fn heal(&mut self, a: usize, b: usize) {
        self.cut.remove(&pair(a, b));
        self.settle();
    }

    /// A client of node `i` that sent `connect` (its INFO already read).
    pub fn client(&mut self, i: usize, connect: &str) -> ConnId {
        let id = self.nodes[i].client(connect);
        self.settle();
        id
    }

    /// Bytes from client `id` of node `i`, and everything that follows from them mesh-wide.
    pub fn send(&mut self, i: usize, id: ConnId, bytes: &[u8]) {
        self.nodes[i].send(id, bytes);
        self.settle();
    }

    /// What client `id` of node `i` has been sent so far, as text.
    pub fn read_text(&mut self, i: usize, id: ConnId) -> String {
        self.nodes[i].read_text(id)
    }

    /// Moves virtual time forward by `by` on every node, running each timer when it falls due
    /// and delivering what it made before the next one.
    pub fn advance(&mut self, by: Duration) {
        let end = self.nodes.iter().map(|n| n.now).max().map(|now| now + by);
        let Some(end) = end else { return };
        loop {
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.server.poll_timeout())
                .filter(|at| *at <= end)
                .min();
            let Some(at) = next else { break };
            for node in &mut self.nodes {
                node.run_due(at);
            }
            self.settle();
        }
        for node in &mut self.nodes {
            node.now = end;
        }
    }

    /// Answers dials and carries bytes and closes along the links until nothing moves.
    pub fn settle(&mut self) {
        for _ in 0..MAX_ROUNDS {
            if !self.answer_dials() & !self.deliver() {
                return;
            }
        }
        panic!("the mesh did not settle in {MAX_ROUNDS} rounds");
    }

    /// Connects (or fails) every dial a node asked for. True if there was any.
    fn answer_dials(&mut self) -> bool {
        let mut any = false;
        for from in 0..self.nodes.len() {
            for (dial, address) in std::mem::take(&mut self.nodes[from].dials) {
                any = true;
                let target = address
                    .strip_prefix('n')
                    .and_then(|rest| rest.strip_suffix(&format!(":{ROUTE_PORT}")))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|to| *to < self.nodes.len() && *to != from && !self.cut.contains(&pair(from, *to)));
                let Some(to) = target else {
                    let error = "dial tcp: connection refused".to_string();
                    self.nodes[from].input(Input::DialFailed { dial, error });
                    continue;
                };
                self.next_port += 1;
                let dialer = SocketAddr::new(ip(from).into(), self.next_port);
                let listener = SocketAddr::new(ip(to).into(), ROUTE_PORT);
                let Some(out) = self.nodes[from].route_dialed(dial, listener, dialer) else {
                    continue;
                };
                let inbound = self.nodes[to].accept_route_from(dialer, listener);
                self.links.push(Link {
                    ends: [(from, out), (to, inbound)],
                    open: true,
                });
            }
        }
        any
    }

    /// Carries written bytes across every link that is not cut, then closes. True if anything
    /// moved.
    fn deliver(&mut self) -> bool {
        let mut moved = false;
        for index in 0..self.links.len() {
            let Link { ends, open } = &self.links[index];
            if !*open {
                continue;
            }
            let ends = *ends;
            if self.cut.contains(&pair(ends[0].0, ends[1].0)) {
                continue;
            }
            for (from, to) in [(ends[0], ends[1]), (ends[1], ends[0])] {
                let bytes = self.nodes[from.0].read(from.1);
                if !bytes.is_empty() {
                    moved = true;
                    self.nodes[to.0].send(to.1, &bytes);
                }
            }
            for (end, other) in [(ends[0], ends[1]), (ends[1], ends[0])] {
                if self.nodes[end.0].closed(end.1).is_some() && self.links[index].open {
                    self.links[index].open = false;
                    moved = true;
                    let reason = CloseReason::ClientClosed;
                    self.nodes[other.0].input(Input::Closed { conn: other.1, reason });
                }
            }
        }
        moved
    }
}

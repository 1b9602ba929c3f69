//! Clusters of servers in one virtual time (`testing::Mesh`): routes form by gossip from one
//! seed URL, messages and queue groups cross them, and a cut link heals.

use std::time::Duration;

use natrix_core::testing::Mesh;

const CONNECT: &str = r#"{"verbose":false,"protocol":1}"#;

#[test]
fn three_servers_form_a_full_mesh_and_carry_messages() {
    let mut mesh = Mesh::new(3, |_, _| {});
    mesh.advance(Duration::from_secs(5));
    for i in 0..3 {
        assert_eq!(mesh.routes(i), 2, "n{i} has a route to each other server");
    }
    let sub = mesh.client(2, CONNECT);
    mesh.send(2, sub, b"SUB orders.* 1\r\nPING\r\n");
    assert_eq!(mesh.read_text(2, sub), "PONG\r\n");
    let publisher = mesh.client(1, CONNECT);
    mesh.send(1, publisher, b"PUB orders.eu 2\r\nhi\r\n");
    assert_eq!(mesh.read_text(2, sub), "MSG orders.eu 1 2\r\nhi\r\n");

    // A queue group with one member on each of two other servers: exactly one gets each message.
    let a = mesh.client(0, CONNECT);
    let b = mesh.client(2, CONNECT);
    mesh.send(0, a, b"SUB jobs q 1\r\n");
    mesh.send(2, b, b"SUB jobs q 1\r\n");
    for _ in 0..10 {
        mesh.send(1, publisher, b"PUB jobs 1\r\nx\r\n");
    }
    let got = mesh.read_text(0, a).matches("MSG jobs").count() + mesh.read_text(2, b).matches("MSG jobs").count();
    assert_eq!(got, 10);
}

#[test]
fn a_cut_link_holds_messages_and_delivers_them_when_healed() {
    let mut mesh = Mesh::new(2, |_, _| {});
    mesh.advance(Duration::from_secs(5));
    let sub = mesh.client(1, CONNECT);
    mesh.send(1, sub, b"SUB x 1\r\n");
    let publisher = mesh.client(0, CONNECT);
    mesh.cut(0, 1);
    mesh.send(0, publisher, b"PUB x 1\r\na\r\n");
    assert_eq!(mesh.read_text(1, sub), "");
    mesh.heal(0, 1);
    assert_eq!(mesh.read_text(1, sub), "MSG x 1 1\r\na\r\n");
}

#[test]
fn a_long_cut_closes_the_route_by_pings_and_it_is_dialed_again() {
    let mut mesh = Mesh::new(2, |_, _| {});
    mesh.advance(Duration::from_secs(5));
    assert_eq!(mesh.routes(0), 1);
    mesh.cut(0, 1);
    // Route PINGs go unanswered: both ends find the route stale and close it.
    mesh.advance(Duration::from_secs(600));
    assert_eq!((mesh.routes(0), mesh.routes(1)), (0, 0));
    mesh.heal(0, 1);
    mesh.advance(Duration::from_secs(60));
    assert_eq!((mesh.routes(0), mesh.routes(1)), (1, 1));
}

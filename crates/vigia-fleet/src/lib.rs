//! Cameras spread over nodes, coordinated through etcd.
//!
//! - Each node registers `<prefix>/nodes/<node>` under a lease it keeps alive; a node that
//!   dies or loses etcd disappears when its lease expires (`lease_ttl_secs`).
//! - The camera list lives in `<prefix>/cameras/<id>` (written by `vigia fleet apply`).
//! - Each camera goes to one live node by rendezvous hashing ([`assign`]): balanced, and a
//!   node joining or leaving moves only the cameras it gains or held.
//! - A node analyses a camera only while it holds `<prefix>/owners/<camera>`, created under
//!   its lease only when absent: two nodes never hold a camera at once, and a dead node's
//!   cameras are free when its lease expires. A node gives a camera up (stops it, then
//!   deletes its key) when the assignment moves it elsewhere.
//!
//! - [`config`]: the `[fleet]` section.
//! - [`assign`]: rendezvous hashing.
//! - [`store`]: the etcd side: lease, registration, the camera list, ownership keys.
//! - [`membership`]: a node's lease kept, and how long etcd is known to keep it (when to
//!   stop its cameras, when to keep them through etcd trouble).

pub mod assign;
pub mod config;
pub mod membership;
pub mod store;

pub use assign::{assign, owner};
pub use config::FleetConfig;
pub use membership::Membership;
pub use store::{FleetError, FleetStore, Snapshot};

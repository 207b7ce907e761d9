//! Capacity headroom of failover segments: could the other hosts of a segment (or its
//! reserved hosts, for `reserved_host` and `rh_priority`) take in the servers of any one host
//! that fails, and of the largest one?
//!
//! A crate of its own so that the binary (`vigil capacity`), the engine (its periodic headroom
//! check and `vigil plan`) and the API's status page share one computation without the API
//! depending on the engine.
//!
//! - `facts`: what is known of a segment's hosts (Vigil's flags, Nova's compute service,
//!   Placement's inventories, usages and allocations), gathered by `gather`;
//! - `pack`: pure: which hosts a recovery may use (the engine's rules), and a per-server
//!   first-fit packing that respects each resource class's free amount and `max_unit`;
//! - `assess`: pure: the per-host and per-segment verdicts (table tests).

mod assess;
mod facts;
mod gather;
mod pack;

pub use assess::{assess, ClassReport, HostReport, Loss, SegmentReport};
pub use facts::{HostFacts, ProviderFacts, SegmentFacts, ServiceState};
pub use gather::{find_segment, CapacityError, Sources};
pub use pack::{
    largest_first, place, strategies, targets, usable, Demand, Packing, Placed, Strategy,
};

//! The instance monitor's libvirt connection: domain events through `virt::sys` (the `virt`
//! crate has no safe wrapper for them), a close callback, keepalive, and the domain listing.
//!
//! The only unsafe code of the monitors. libvirt calls the callbacks on the one thread that
//! runs its default event loop, started once per process; each callback copies what it needs
//! out of libvirt's arguments and sends a [`Signal`] down a channel, so nothing libvirt owns
//! outlives the call. Each registration holds its own reference on the shared [`Sink`],
//! released by libvirt's free callback when the registration goes.
#![allow(unsafe_code)]

use super::table::DomainEvent;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, Notify};
use vigil_domain::Timestamp;
use virt::connect::Connect;
use virt::sys;

/// What the callbacks tell the monitor.
#[derive(Debug)]
pub enum Signal {
    Event {
        uuid: String,
        name: String,
        event: DomainEvent,
        /// When the callback ran: the report's `generated_time`, as masakari-monitors takes
        /// `utcnow()` in its callback.
        at: Timestamp,
    },
    /// The connection of session `session` closed (libvirtd went away, keepalive timed out).
    Closed { session: u64, reason: i32 },
}

/// Where callbacks send: the monitor's channel, and its wake-up.
pub struct Sink {
    pub tx: mpsc::UnboundedSender<Signal>,
    pub wake: Arc<Notify>,
}

impl Sink {
    fn send(&self, signal: Signal) {
        // The receiver gone means the monitor stopped: nothing to tell.
        let _ = self.tx.send(signal);
        self.wake.notify_one();
    }
}

/// A failed libvirt call; libvirt's message is the source.
#[derive(Debug, thiserror::Error)]
pub enum LibvirtError {
    #[error("starting libvirt's event loop")]
    EventLoop(#[source] Arc<dyn std::error::Error + Send + Sync>),
    #[error("connecting to libvirt at {uri}")]
    Open {
        uri: String,
        #[source]
        source: virt::error::Error,
    },
    #[error("setting the connection's keepalive")]
    KeepAlive(#[source] virt::error::Error),
    #[error("registering for domain events (id {id})")]
    Register {
        id: u32,
        #[source]
        source: virt::error::Error,
    },
    #[error("listing the domains")]
    List(#[source] virt::error::Error),
}

/// A domain as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub uuid: String,
    pub name: String,
    /// `virDomainGetState`'s state and reason.
    pub state: i32,
    pub reason: i32,
}

/// libvirt's default event loop, on a thread of its own for the life of the process; it must
/// be registered before any connection opens. libvirt's errors are returned, not printed.
fn event_loop() -> Result<(), LibvirtError> {
    type Failure = Arc<dyn std::error::Error + Send + Sync>;
    static STARTED: OnceLock<Result<(), Failure>> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            unsafe extern "C" fn quiet(_: *mut c_void, _: sys::virErrorPtr) {}
            // SAFETY: a handler that ignores its arguments, valid for the whole process.
            unsafe { sys::virSetErrorFunc(std::ptr::null_mut(), Some(quiet)) };
            virt::event::event_register_default_impl().map_err(|e| Arc::new(e) as Failure)?;
            std::thread::Builder::new()
                .name("libvirt-events".into())
                .spawn(|| loop {
                    if let Err(e) = virt::event::event_run_default_impl() {
                        tracing::error!(error = %e, "libvirt's event loop failed");
                        std::thread::sleep(std::time::Duration::from_secs(1));
                    }
                })
                .map(drop)
                .map_err(|e| Arc::new(e) as Failure)
        })
        .clone()
        .map_err(LibvirtError::EventLoop)
}

/// An open connection with the monitor's callbacks registered; dropping it deregisters them
/// and closes the connection (blocking: it may talk to libvirtd). The guest-agent monitor
/// uses it too, read-write: libvirt refuses agent commands on a read-only connection.
pub struct Session {
    conn: Connect,
    callbacks: Vec<c_int>,
    close_registered: bool,
    pub id: u64,
}

impl Session {
    /// Connects to `uri` (read-only unless `read_write`: the instance monitor's is, as
    /// masakari-monitors' is), with keepalive (`interval` seconds, `count` unanswered
    /// probes), and registers the domain event callbacks.
    pub fn open(
        uri: &str,
        read_write: bool,
        keepalive: (i32, u32),
        sink: Arc<Sink>,
        id: u64,
    ) -> Result<Session, LibvirtError> {
        event_loop()?;
        let conn = if read_write {
            Connect::open(Some(uri))
        } else {
            Connect::open_read_only(Some(uri))
        }
        .map_err(|source| LibvirtError::Open {
            uri: uri.to_owned(),
            source,
        })?;
        let mut session = Session {
            conn,
            callbacks: Vec::new(),
            close_registered: false,
            id,
        };
        session
            .conn
            .set_keep_alive(keepalive.0, keepalive.1)
            .map_err(LibvirtError::KeepAlive)?;
        session.register_close(&sink, id);
        for (event_id, cb) in callbacks() {
            let opaque = Arc::into_raw(sink.clone()) as *mut c_void;
            // SAFETY: `cb` has the signature libvirt uses for `event_id` (see `callbacks`),
            // cast to the generic type as VIR_DOMAIN_EVENT_CALLBACK() does in C; `opaque` is
            // a reference on the sink that `free_sink` releases.
            let n = unsafe {
                sys::virConnectDomainEventRegisterAny(
                    session.conn.as_ptr(),
                    std::ptr::null_mut(),
                    event_id as c_int,
                    cb,
                    opaque,
                    Some(free_sink),
                )
            };
            if n < 0 {
                // SAFETY: libvirt did not take the reference.
                unsafe { free_sink(opaque) };
                return Err(LibvirtError::Register {
                    id: event_id,
                    source: virt::error::Error::last_error(),
                });
            }
            session.callbacks.push(n);
        }
        Ok(session)
    }

    fn register_close(&mut self, sink: &Arc<Sink>, id: u64) {
        let closer = Box::new(Closer {
            sink: sink.clone(),
            session: id,
        });
        let opaque = Box::into_raw(closer) as *mut c_void;
        // SAFETY: `on_close` and `free_closer` take `opaque` as the `Closer` it is.
        let n = unsafe {
            sys::virConnectRegisterCloseCallback(
                self.conn.as_ptr(),
                Some(on_close),
                opaque,
                Some(free_closer),
            )
        };
        if n < 0 {
            // SAFETY: not registered, so ours to free. Without a close callback a lost
            // connection is still found by the next failed call.
            unsafe { free_closer(opaque) };
            tracing::warn!("libvirt refused a close callback");
        } else {
            self.close_registered = true;
        }
    }

    /// The connection, for calls of another monitor's own.
    pub fn connection(&self) -> &Connect {
        &self.conn
    }

    /// Every domain, defined or running, with its state.
    pub fn domains(&self) -> Result<Vec<Listed>, LibvirtError> {
        let domains = self.conn.list_all_domains(0).map_err(LibvirtError::List)?;
        let mut listed = Vec::with_capacity(domains.len());
        for d in domains {
            let (mut state, mut reason): (c_int, c_int) = (-1, -1);
            // SAFETY: `d` is a live reference on the domain for this call.
            let rc = unsafe { sys::virDomainGetState(d.as_ptr(), &mut state, &mut reason, 0) };
            if rc < 0 {
                // Undefined between the listing and now.
                continue;
            }
            listed.push(Listed {
                uuid: d.uuid_string().map_err(LibvirtError::List)?,
                name: d.name().map_err(LibvirtError::List)?,
                state,
                reason,
            });
        }
        Ok(listed)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the connection outlives this function.
        let conn = unsafe { self.conn.as_ptr() };
        for id in self.callbacks.drain(..) {
            // SAFETY: ids registered on this connection; a failure (a dead connection) still
            // removes the callback locally, and libvirt frees its opaque.
            unsafe { sys::virConnectDomainEventDeregisterAny(conn, id) };
        }
        if self.close_registered {
            // SAFETY: the callback registered on this connection.
            unsafe { sys::virConnectUnregisterCloseCallback(conn, Some(on_close)) };
        }
    }
}

struct Closer {
    sink: Arc<Sink>,
    session: u64,
}

unsafe extern "C" fn on_close(_: sys::virConnectPtr, reason: c_int, opaque: *mut c_void) {
    // SAFETY: registered with a `Closer`, alive until `free_closer`.
    let closer = unsafe { &*(opaque as *const Closer) };
    closer.sink.send(Signal::Closed {
        session: closer.session,
        reason,
    });
}

unsafe extern "C" fn free_closer(opaque: *mut c_void) {
    // SAFETY: the box `register_close` leaked.
    drop(unsafe { Box::from_raw(opaque as *mut Closer) });
}

unsafe extern "C" fn free_sink(opaque: *mut c_void) {
    // SAFETY: a reference `Session::open` leaked with `Arc::into_raw`.
    drop(unsafe { Arc::from_raw(opaque as *const Sink) });
}

/// The domain's UUID and name, and the sink, from a callback's arguments.
///
/// # Safety
/// `dom` is the domain libvirt passed to the callback; `opaque` a registration's sink.
unsafe fn deliver(dom: sys::virDomainPtr, opaque: *mut c_void, event: DomainEvent) {
    // SAFETY: as the caller promises.
    let sink = unsafe { &*(opaque as *const Sink) };
    let mut buf = [0 as c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
    // SAFETY: `buf` has the length libvirt writes; the name is libvirt's, copied at once.
    let (uuid, name) = unsafe {
        if sys::virDomainGetUUIDString(dom, buf.as_mut_ptr()) < 0 {
            return;
        }
        let name = sys::virDomainGetName(dom);
        let name = if name.is_null() {
            String::new()
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        };
        (
            CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned(),
            name,
        )
    };
    sink.send(Signal::Event {
        uuid,
        name,
        event,
        at: Timestamp::now(),
    });
}

unsafe extern "C" fn on_lifecycle(
    _: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY: libvirt's arguments, as registered.
    unsafe { deliver(dom, opaque, DomainEvent::Lifecycle { event, detail }) };
    0
}

type Generic = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void);

/// `fn $name() -> virConnectDomainEventGenericCallback`: a callback for an event whose
/// arguments are the connection, the domain, `$arg: $ty…`, and the opaque, which delivers
/// `$event`, cast to the generic type libvirt registers callbacks as.
macro_rules! domain_callback {
    ($name:ident($($arg:ident: $ty:ty),*) => $event:expr) => {
        // The cast is from the generic type itself for the events with no more arguments.
        #[allow(clippy::useless_transmute)]
        fn $name() -> sys::virConnectDomainEventGenericCallback {
            unsafe extern "C" fn callback(
                _: sys::virConnectPtr,
                dom: sys::virDomainPtr,
                $($arg: $ty,)*
                opaque: *mut c_void,
            ) {
                // SAFETY: libvirt's arguments, as registered.
                unsafe { deliver(dom, opaque, $event) };
            }
            type Own =
                unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, $($ty,)* *mut c_void);
            // SAFETY: function pointers of one size; libvirt calls this one with the arguments
            // of its event id, which is the type it is cast from.
            Some(unsafe { std::mem::transmute::<Own, Generic>(callback) })
        }
    };
}

domain_callback!(on_reboot() => DomainEvent::Reboot);
domain_callback!(on_control_error() => DomainEvent::ControlError);
domain_callback!(on_watchdog(action: c_int) => DomainEvent::Watchdog { action });
domain_callback!(
    on_io_error(_src: *const c_char, _alias: *const c_char, action: c_int)
        => DomainEvent::IoError { action }
);
domain_callback!(
    on_io_error_reason(
        _src: *const c_char,
        _alias: *const c_char,
        _action: c_int,
        _reason: *const c_char
    ) => DomainEvent::IoErrorReason
);

/// The events masakari-monitors acts on, each with its callback cast to the generic type.
fn callbacks() -> [(u32, sys::virConnectDomainEventGenericCallback); 6] {
    type Lifecycle = unsafe extern "C" fn(
        sys::virConnectPtr,
        sys::virDomainPtr,
        c_int,
        c_int,
        *mut c_void,
    ) -> c_int;
    // SAFETY: as in `domain_callback!`: libvirt calls it with a lifecycle event's arguments.
    let lifecycle = unsafe { std::mem::transmute::<Lifecycle, Generic>(on_lifecycle) };
    [
        (sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE, Some(lifecycle)),
        (sys::VIR_DOMAIN_EVENT_ID_REBOOT, on_reboot()),
        (sys::VIR_DOMAIN_EVENT_ID_WATCHDOG, on_watchdog()),
        (sys::VIR_DOMAIN_EVENT_ID_IO_ERROR, on_io_error()),
        (
            sys::VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON,
            on_io_error_reason(),
        ),
        (sys::VIR_DOMAIN_EVENT_ID_CONTROL_ERROR, on_control_error()),
    ]
}

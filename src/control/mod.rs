//! Client commands carried out on the PBX: the [`ws::Backend`] of the app,
//! on top of the call tracker and the AMI session.
//!
//! ```text
//!  ws client ──Command──▶ Control::execute ──checks (dial patterns, rate,
//!                              │              the call's channels)
//!                              ▼
//!                         plan (Action) ──SessionHandle::send──▶ Asterisk
//!                              ▲
//!  app ──CallEvent──▶ Control::on_event (autoPauseOnCommutationStart,
//!                                        traceQueuesState, `call` started)
//! ```
//!
//! - [`plan`]: each command as its AMI action, answers as results (pure).
//! - [`rate`]: the per-user originate rate limit (pure, clock passed in).
//! - [`autopause`]: when to pause and unpause a line in its queues (pure).
//! - [`held`]: the parties parked by `hold`, for `unhold` (pure).
//!
//! docs/protocol.md, section 8, documents every command for client authors.

pub mod autopause;
pub mod held;
pub mod plan;
pub mod rate;

use crate::ami::{Action, ActionError, InvalidAction, Reply, SessionHandle};
use crate::calls::model::{fixed, CallId as ModelCallId};
use crate::calls::{CallEvent, EventKind, Tracker};
use crate::config::{Config, Protocol, User as ConfigUser, Users as ConfigUsers};
use crate::limits::AMI_MAX_PENDING_ACTIONS;
use crate::ws::{self, CallId, Command, CommandError, Done, ErrorCode, LocalFuture, Number, User};
use async_executor::LocalExecutor;
use autopause::{AutoPause, Order};
use futures_lite::future;
use held::HeldCalls;
use rate::RateLimiter;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

/// The counters of client commands, for /health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControlStats {
    /// Commands handed to [`Control`] (validated and on the user's own calls).
    pub commands: u64,
    /// Of those, answered with an error result.
    pub errors: u64,
    /// `call` commands refused by `originateRatePerMinute`.
    pub rate_limited: u64,
    /// Parks made by `hold` forgotten at [`crate::limits::HELD_CALLS`].
    pub held_dropped: u64,
    /// Lines paused by `autoPauseOnCommutationStart`.
    pub auto_paused: u64,
    /// Lines unpaused by it when their queue call ended.
    pub auto_unpaused: u64,
    /// Queue calls not paused because
    /// [`crate::limits::AUTO_PAUSE_LINES`] lines held a pause of the bridge.
    pub auto_pause_full: u64,
}

/// A one-shot flag with a waker: set by `on_event`, awaited by `call`.
#[derive(Default)]
struct Signal {
    fired: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Signal {
    fn fire(&self) {
        self.fired.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        future::poll_fn(|cx| {
            if self.fired.get() {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// Everything the commands share, kept apart from the borrowed config so
/// spawned tasks can hold it.
struct State {
    rate: RateLimiter,
    held: HeldCalls,
    auto: AutoPause,
    /// `call`s waiting for their `RingStarted` (asyncOriginate), at most
    /// [`AMI_MAX_PENDING_ACTIONS`]: each has an action waiting anyway.
    watches: Vec<(ModelCallId, Rc<Signal>)>,
    /// Random per process: ChannelIds stay unique across restarts.
    tag: u16,
    next_id: u32,
    stats: ControlStats,
}

/// Removes a `call`'s watch however the command ends.
struct WatchGuard<'a>(&'a RefCell<State>, Rc<Signal>);

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        self.0
            .borrow_mut()
            .watches
            .retain(|(_, s)| !Rc::ptr_eq(s, &self.1));
    }
}

/// The line's side of a live call, copied out of the tracker.
struct Live {
    channel: String,
    peer_channel: Option<String>,
    peer_uniqueid: Option<String>,
}

/// Carries out client commands on the PBX and follows the call events the
/// app publishes. See the module documentation.
pub struct Control {
    config: Rc<Config>,
    /// The users' dial patterns and contexts: `config.users` until a reload
    /// replaces them ([`Control::set_users`]).
    users: RefCell<Box<ConfigUsers>>,
    tracker: Rc<RefCell<Tracker>>,
    session: SessionHandle,
    ex: Rc<LocalExecutor<'static>>,
    state: Rc<RefCell<State>>,
}

impl Control {
    /// A control for `config`'s users, reading calls from `tracker` and
    /// sending actions through `session`; background actions (auto-pause)
    /// run as tasks on `ex`.
    pub fn new(
        config: Rc<Config>,
        tracker: Rc<RefCell<Tracker>>,
        session: SessionHandle,
        ex: Rc<LocalExecutor<'static>>,
    ) -> Control {
        let rate = RateLimiter::new(config.actions.originate_rate_per_minute);
        Control {
            users: RefCell::new(config.users.clone()),
            config,
            tracker,
            session,
            ex,
            state: Rc::new(RefCell::new(State {
                rate,
                held: HeldCalls::default(),
                auto: AutoPause::default(),
                watches: Vec::new(),
                tag: fastrand::u16(..),
                next_id: 0,
                stats: ControlStats::default(),
            })),
        }
    }

    /// The counters now.
    pub fn stats(&self) -> ControlStats {
        let st = self.state.borrow();
        ControlStats {
            held_dropped: st.held.dropped(),
            auto_pause_full: st.auto.full(),
            ..st.stats
        }
    }

    /// Called by the app for every call-model event it publishes (after the
    /// tracker borrow ended): completes a waiting `call` at its
    /// `RingStarted`, logs `QueueState` with `traceQueuesState`, and pauses
    /// or unpauses lines with `autoPauseOnCommutationStart`.
    pub fn on_event(&self, ev: &CallEvent) {
        if let EventKind::RingStarted { .. } = ev.kind {
            let st = self.state.borrow();
            for (id, signal) in &st.watches {
                if *id == ev.call {
                    signal.fire();
                }
            }
        }
        if let EventKind::QueueState {
            paused,
            reason,
            queue,
        } = &ev.kind
        {
            if self.config.calls.trace_queues_state {
                let queue = if queue.is_empty() {
                    "all queues"
                } else {
                    queue
                };
                let state = if *paused { "paused" } else { "unpaused" };
                if reason.is_empty() {
                    log::info!("queue member of line {}: {state} in {queue}", ev.line);
                } else {
                    log::info!(
                        "queue member of line {}: {state} in {queue} ({reason})",
                        ev.line
                    );
                }
            }
        }
        if !self.config.calls.auto_pause_on_commutation_start {
            return;
        }
        let order = {
            let tracker = &self.tracker;
            self.state.borrow_mut().auto.on_event(ev, || {
                tracker
                    .borrow()
                    .call_info(&ev.call)
                    .is_some_and(|i| i.queue)
            })
        };
        if let Some(order) = order {
            self.spawn_auto_pause(order);
        }
    }

    fn spawn_auto_pause(&self, order: Order) {
        let (line, paused) = match order {
            Order::Pause(l) => (l, true),
            Order::Unpause(l) => (l, false),
        };
        let iface = self.config.calls.queue_extension_format.interface(&line);
        let action = plan::queue_pause(&iface, paused, "", None);
        let (session, state) = (self.session.clone(), self.state.clone());
        self.ex
            .spawn(async move {
                let what = if paused { "pause" } else { "unpause" };
                let result = match action {
                    Ok(a) => session.send(a).await,
                    Err(e) => Err(ActionError::Invalid(e)),
                };
                let mut st = state.borrow_mut();
                match result {
                    Ok(_) => {
                        log::info!(
                            "autoPauseOnCommutationStart: {what}d line {line} ({iface}) in its queues"
                        );
                        if paused {
                            st.stats.auto_paused += 1;
                        } else {
                            st.stats.auto_unpaused += 1;
                        }
                    }
                    Err(e) => {
                        log::warn!(
                            "autoPauseOnCommutationStart: could not {what} line {line} ({iface}): {e}"
                        );
                        if paused {
                            st.auto.pause_failed(&line);
                        }
                    }
                }
            })
            .detach();
    }

    /// Puts a reloaded config's users (dial patterns, contexts) to work for
    /// the commands that start from now on.
    pub fn set_users(&self, users: Box<ConfigUsers>) {
        *self.users.borrow_mut() = users;
    }

    /// The config entry of a signed-in user (a copy: a reload may replace
    /// the table while the command runs).
    fn config_user(&self, user: &User) -> Result<ConfigUser, CommandError> {
        self.users
            .borrow()
            .iter()
            .find(|u| u.name == user.name.as_str() && u.line == user.line.as_str())
            .cloned()
            .ok_or_else(|| {
                CommandError::new(
                    ErrorCode::Forbidden,
                    format!("user '{}' is not in the bridge's config", user.name),
                )
            })
    }

    /// Refuses a number the user's dial patterns do not allow.
    fn check_dial(&self, user: &User, number: &str) -> Result<ConfigUser, CommandError> {
        let cu = self.config_user(user)?;
        if cu.allows(number) {
            Ok(cu)
        } else {
            Err(CommandError::new(
                ErrorCode::InvalidNumber,
                format!(
                    "user '{}' may not call {number}: it matches none of the user's dialPatterns",
                    user.name
                ),
            ))
        }
    }

    /// The line's side of `call`, which must still be live.
    fn live(&self, user: &User, call: &str) -> Result<Live, CommandError> {
        let t = self.tracker.borrow();
        let info = t
            .call_info(call)
            .filter(|i| i.line == user.line.as_str())
            .ok_or_else(|| {
                CommandError::new(ErrorCode::NotFound, format!("call {call} has ended"))
            })?;
        Ok(Live {
            channel: info.channel.to_owned(),
            peer_channel: info.peer_channel.map(str::to_owned),
            peer_uniqueid: info.peer_uniqueid.map(str::to_owned),
        })
    }

    /// Sends an action and maps its failure.
    async fn send(
        &self,
        name: &str,
        action: Result<Action, InvalidAction>,
    ) -> Result<Reply, CommandError> {
        let action = action.map_err(|e| plan::invalid(&e))?;
        self.session
            .send(action)
            .await
            .map_err(|e| plan::ami_error(name, &e))
    }

    /// A fresh ChannelId: `ctib-<unix seconds>-<random>-<n>`, unique on this
    /// PBX (Asterisk refuses a Uniqueid already in use; it allows 149
    /// characters, the call model keeps 64, the client protocol's call ids
    /// are `[A-Za-z0-9._-]`).
    fn new_channel_id(&self) -> String {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut st = self.state.borrow_mut();
        st.next_id = st.next_id.wrapping_add(1);
        format!("ctib-{secs}-{:04x}-{}", st.tag, st.next_id)
    }

    /// Originates from the user's line to `exten` in `context` with the
    /// preset `channel_id`, and decides when the command is done:
    /// `asyncOriginate` true: when the new call's `RingStarted` is published
    /// (the phone rings), or Asterisk's final answer if that comes first;
    /// false: when the `OriginateResponse` says the phone answered.
    async fn originate(
        &self,
        user: &User,
        context: &str,
        exten: &str,
        channel_id: String,
    ) -> Result<Done, CommandError> {
        self.tracker
            .borrow_mut()
            .expect_originate(&channel_id, &user.line, exten);
        let from = plan::FromLine {
            protocol: self.config.calls.protocol,
            line: &user.line,
            name: &user.name,
            channel_id: &channel_id,
        };
        let action = plan::call(&from, context, exten).map_err(|e| plan::invalid(&e))?;
        let signal = self
            .config
            .actions
            .async_originate
            .then(|| self.watch(&channel_id))
            .flatten();
        let send = self.session.send(action);
        let reply = match &signal {
            Some(sig) => {
                let _guard = WatchGuard(&self.state, sig.clone());
                future::or(async { Some(send.await) }, async {
                    sig.wait().await;
                    None
                })
                .await
            }
            None => Some(send.await),
        };
        let call = match reply {
            // The phone rings: Asterisk has queued and started the call.
            None => channel_id.clone(),
            Some(Err(e)) => return Err(plan::ami_error("Originate", &e)),
            Some(Ok(reply)) => plan::originate_outcome(&reply)?.unwrap_or(channel_id.clone()),
        };
        let call = CallId::parse(&call)
            .or_else(|_| CallId::parse(&channel_id))
            .ok();
        Ok(Done { call })
    }

    /// Watches for the `RingStarted` of `channel_id`, unless too many
    /// `call`s already wait (then the command waits for Asterisk's answer).
    fn watch(&self, channel_id: &str) -> Option<Rc<Signal>> {
        let mut st = self.state.borrow_mut();
        if st.watches.len() >= AMI_MAX_PENDING_ACTIONS {
            return None;
        }
        let sig = Rc::new(Signal::default());
        st.watches.push((fixed(channel_id), sig.clone()));
        Some(sig)
    }

    async fn call(&self, user: &User, number: &Number) -> Result<Done, CommandError> {
        let cu = self.check_dial(user, number)?;
        let context = cu.originate_context(&self.config.actions).to_owned();
        let taken = self
            .state
            .borrow_mut()
            .rate
            .take(&user.name, Instant::now());
        if let Err(wait) = taken {
            self.state.borrow_mut().stats.rate_limited += 1;
            return Err(if wait == Duration::MAX {
                CommandError::new(
                    ErrorCode::Unsupported,
                    "calls from the panel are turned off on this bridge (originateRatePerMinute is 0)",
                )
            } else {
                let per = self.state.borrow().rate.per_minute();
                CommandError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "user '{}' may start {per} calls per minute; try again in {} s",
                        user.name,
                        rate::retry_after_secs(wait)
                    ),
                )
            });
        }
        let id = self.new_channel_id();
        self.originate(user, &context, number, id).await
    }

    async fn hold(&self, user: &User, call: &CallId) -> Result<Done, CommandError> {
        let live = self.live(user, call)?;
        let (Some(peer), Some(peer_uid)) = (live.peer_channel, live.peer_uniqueid) else {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                format!("call {call} has no other party to put on hold (it is not talking)"),
            ));
        };
        self.send("Park", plan::hold(&peer, &live.channel)).await?;
        self.state
            .borrow_mut()
            .held
            .insert(&user.line, call, &peer_uid);
        Ok(Done::default())
    }

    async fn unhold(&self, user: &User, call: &CallId) -> Result<Done, CommandError> {
        let parkee = self
            .state
            .borrow()
            .held
            .parkee(&user.line, call)
            .map(str::to_owned);
        let Some(parkee) = parkee else {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                format!("call {call} has no party put on hold by 'hold'"),
            ));
        };
        let space = self
            .tracker
            .borrow()
            .parking_space(&parkee)
            .map(str::to_owned);
        let Some(space) = space else {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                format!(
                    "the party held from call {call} is not parked now: it was picked up, \
                     came back to the line, hung up, or Asterisk has not reported the park yet"
                ),
            ));
        };
        let context = self.config.actions.parking_lot_context.clone();
        let id = self.new_channel_id();
        let done = self.originate(user, &context, &space, id).await?;
        self.state.borrow_mut().held.remove(&user.line, call);
        Ok(done)
    }

    async fn transfer(
        &self,
        user: &User,
        call: &CallId,
        number: &Number,
    ) -> Result<Done, CommandError> {
        let cu = self.check_dial(user, number)?;
        let context = cu.originate_context(&self.config.actions).to_owned();
        let live = self.live(user, call)?;
        if !plan::lacks_blind_transfer(&self.session.status().version) {
            let action = plan::blind_transfer(&live.channel, &context, number)
                .map_err(|e| plan::invalid(&e))?;
            match self.session.send(action).await {
                Ok(_) => return Ok(Done::default()),
                Err(e) if plan::is_unknown_action(&e) => {
                    log::info!("Asterisk has no BlindTransfer action: transferring with Redirect");
                }
                Err(e) => return Err(plan::ami_error("BlindTransfer", &e)),
            }
        }
        let Some(peer) = live.peer_channel else {
            return Err(CommandError::new(
                ErrorCode::NotFound,
                format!("call {call} has no other party to transfer (it is not talking)"),
            ));
        };
        self.send("Redirect", plan::redirect(&peer, &context, number))
            .await?;
        Ok(Done::default())
    }

    async fn answer(&self, user: &User, call: &CallId) -> Result<Done, CommandError> {
        self.live(user, call)?;
        let protocol = self.config.calls.protocol;
        let name = match protocol {
            Protocol::Pjsip => "PJSIPNotify",
            Protocol::Sip => "SIPnotify",
        };
        let action = plan::answer(protocol, &user.line).map_err(|e| plan::invalid(&e))?;
        match self.session.send(action).await {
            Ok(_) => Ok(Done::default()),
            Err(ActionError::Refused { message }) => Err(CommandError::new(
                ErrorCode::Unsupported,
                format!(
                    "the phone of line {} cannot be answered remotely: Asterisk refused the \
                     {name} ({}); the phone or the PBX does not support remote answer",
                    user.line,
                    message.trim()
                ),
            )),
            Err(e) => Err(plan::ami_error(name, &e)),
        }
    }

    async fn queue_pause(
        &self,
        user: &User,
        paused: bool,
        reason: &str,
        queue: Option<&str>,
    ) -> Result<Done, CommandError> {
        let iface = self
            .config
            .calls
            .queue_extension_format
            .interface(&user.line);
        self.send(
            "QueuePause",
            plan::queue_pause(&iface, paused, reason, queue),
        )
        .await?;
        if queue.is_none() {
            self.state
                .borrow_mut()
                .auto
                .operator_paused(&user.line, paused);
        }
        Ok(Done::default())
    }

    async fn run(&self, user: &User, cmd: &Command) -> Result<Done, CommandError> {
        match cmd {
            Command::Call { number } => self.call(user, number).await,
            Command::Hangup { call } => {
                let live = self.live(user, call)?;
                self.send("Hangup", plan::hangup(&live.channel)).await?;
                Ok(Done::default())
            }
            Command::Hold { call } => self.hold(user, call).await,
            Command::Unhold { call } => self.unhold(user, call).await,
            Command::Transfer { call, number } => self.transfer(user, call, number).await,
            Command::AttendedTransfer { call, number } => {
                let cu = self.check_dial(user, number)?;
                let context = cu.originate_context(&self.config.actions).to_owned();
                let live = self.live(user, call)?;
                self.send(
                    "Atxfer",
                    plan::attended_transfer(&live.channel, &context, number),
                )
                .await?;
                Ok(Done::default())
            }
            Command::Answer { call } => self.answer(user, call).await,
            Command::QueuePause {
                paused,
                reason,
                queue,
            } => {
                self.queue_pause(user, *paused, reason, queue.as_deref())
                    .await
            }
        }
    }
}

impl ws::Backend for Control {
    fn snapshot(&self, line: &str) -> Vec<String> {
        let mut events: Vec<CallEvent> = Vec::new();
        self.tracker.borrow().snapshot(line, &mut events);
        events.iter().map(CallEvent::to_string).collect()
    }

    /// A live call of `line`, or a call of `line` whose party `hold` parked
    /// (so that `unhold` can name it after the line's channel is gone).
    fn owns_call(&self, line: &str, call: &str) -> bool {
        self.tracker
            .borrow()
            .call_info(call)
            .is_some_and(|i| i.line == line)
            || self.state.borrow().held.parkee(line, call).is_some()
    }

    fn execute<'a>(
        &'a self,
        user: &'a User,
        cmd: Command,
    ) -> LocalFuture<'a, Result<Done, CommandError>> {
        Box::pin(async move {
            self.state.borrow_mut().stats.commands += 1;
            let result = self.run(user, &cmd).await;
            // "hangup 1795.12" for a command on a call, "call" otherwise.
            let what = match cmd.call() {
                Some(c) => format!("{} {c}", cmd.op()),
                None => cmd.op().to_string(),
            };
            match &result {
                Ok(done) => log::info!(
                    "user '{}' (line {}): {what} done{}",
                    user.name,
                    user.line,
                    done.call
                        .as_ref()
                        .map_or(String::new(), |c| format!(", call {c}"))
                ),
                Err(e) => {
                    self.state.borrow_mut().stats.errors += 1;
                    log::info!(
                        "user '{}' (line {}): {what} refused: {e}",
                        user.name,
                        user.line
                    );
                }
            }
            result
        })
    }
}

//! The AMI keys the tracker reads, picked out of a packet in one pass.

use crate::ami::message::text;
use crate::ami::Packet;

macro_rules! fields {
    ($($field:ident = $key:literal),* $(,)?) => {
        /// The values of the keys the tracker uses; the first occurrence of a
        /// key wins, as with [`Packet::get`].
        #[derive(Default, Debug, Clone, Copy)]
        pub(crate) struct Fields<'a> {
            $(pub $field: Option<&'a str>,)*
        }

        impl<'a> Fields<'a> {
            /// Reads every field of `p` once, keys compared without case.
            pub fn read(p: &Packet<'a>) -> Fields<'a> {
                let mut f = Fields::default();
                let mut buf = [0u8; 40];
                for (k, v) in p.fields() {
                    if k.len() > buf.len() {
                        continue;
                    }
                    let lk = &mut buf[..k.len()];
                    lk.copy_from_slice(k);
                    lk.make_ascii_lowercase();
                    let slot = match &*lk {
                        $($key => &mut f.$field,)*
                        _ => continue,
                    };
                    if slot.is_none() {
                        *slot = Some(text(v));
                    }
                }
                f
            }
        }
    };
}

fields! {
    uniqueid = b"uniqueid",
    channel = b"channel",
    state = b"channelstate",
    cnum = b"calleridnum",
    cname = b"calleridname",
    clnum = b"connectedlinenum",
    clname = b"connectedlinename",
    exten = b"exten",
    d_uid = b"destuniqueid",
    d_chan = b"destchannel",
    destination = b"destination",
    d_state = b"destchannelstate",
    d_cnum = b"destcalleridnum",
    d_cname = b"destcalleridname",
    d_clnum = b"destconnectedlinenum",
    d_clname = b"destconnectedlinename",
    d_exten = b"destexten",
    dialstring = b"dialstring",
    dialstatus = b"dialstatus",
    subevent = b"subevent",
    bridge = b"bridgeuniqueid",
    bridgetype = b"bridgetype",
    bridgeid = b"bridgeid",
    to_bridge = b"tobridgeuniqueid",
    from_bridge = b"frombridgeuniqueid",
    cause = b"cause",
    bridgestate = b"bridgestate",
    channel1 = b"channel1",
    channel2 = b"channel2",
    uniqueid1 = b"uniqueid1",
    uniqueid2 = b"uniqueid2",
    status = b"status",
    l1_uid = b"localoneuniqueid",
    l2_uid = b"localtwouniqueid",
    l1_chan = b"localonechannel",
    l2_chan = b"localtwochannel",
    newname = b"newname",
    oldname = b"oldname",
    clone = b"clone",
    original = b"original",
    parkee_uid = b"parkeeuniqueid",
    parkee_chan = b"parkeechannel",
    parking_space = b"parkingspace",
    dest_chan11 = b"destinationchannel",
    transferer_uid = b"transfereruniqueid",
    transferee_uid = b"transfereeuniqueid",
    extension = b"extension",
    result = b"result",
    target_uid = b"transfertargetuniqueid",
    target_cnum = b"transfertargetcalleridnum",
    orig_uid = b"origtransfereruniqueid",
    second_uid = b"secondtransfereruniqueid",
    transferee_cnum = b"transfereecalleridnum",
    orig_clnum = b"origtransfererconnectedlinenum",
    second_clnum = b"secondtransfererconnectedlinenum",
    transfertype = b"transfertype",
    target_uid11 = b"targetuniqueid",
    transferexten = b"transferexten",
    queue = b"queue",
    interface = b"interface",
    location = b"location",
    state_interface = b"stateinterface",
    paused = b"paused",
    pausedreason = b"pausedreason",
    reason = b"reason",
    application = b"application",
}

/// One channel as an event describes it, under some key prefix.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Snap<'a> {
    pub uid: &'a str,
    pub name: &'a str,
    pub state: Option<u8>,
    pub cnum: Option<&'a str>,
    pub cname: Option<&'a str>,
    pub clnum: Option<&'a str>,
    pub clname: Option<&'a str>,
    pub exten: Option<&'a str>,
}

impl<'a> Fields<'a> {
    /// The channel the event is about (`Channel`, `Uniqueid`, ...).
    pub fn plain(&self) -> Snap<'a> {
        Snap {
            uid: self.uniqueid.unwrap_or(""),
            name: self.channel.unwrap_or(""),
            state: self.state.and_then(|s| s.trim().parse().ok()),
            cnum: self.cnum,
            cname: self.cname,
            clnum: self.clnum,
            clname: self.clname,
            exten: self.exten,
        }
    }

    /// The dialled channel of a `DialBegin`/`DialEnd` (`Dest*` keys; the
    /// Asterisk 11 `Dial` event names it `Destination`).
    pub fn dest(&self) -> Snap<'a> {
        Snap {
            uid: self.d_uid.unwrap_or(""),
            name: self.d_chan.or(self.destination).unwrap_or(""),
            state: self.d_state.and_then(|s| s.trim().parse().ok()),
            cnum: self.d_cnum,
            cname: self.d_cname,
            clnum: self.d_clnum,
            clname: self.d_clname,
            exten: self.d_exten,
        }
    }

    /// A channel known only by uniqueid and name.
    pub fn bare(uid: Option<&'a str>, name: Option<&'a str>) -> Snap<'a> {
        Snap {
            uid: uid.unwrap_or(""),
            name: name.unwrap_or(""),
            ..Snap::default()
        }
    }
}

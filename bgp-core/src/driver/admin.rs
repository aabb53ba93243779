//! DOC: what an operator, a reload or the speaker's own shutdown asks of a neighbour's session,
//! and the command (with its Cease subcode, RFC 4486, and shutdown communication, RFC 9003)
//! each one gives the session.

use crate::session::Command;
use crate::wire::notification::cease;

/// An administrative request for one neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admin {
    /// `enable`: start (and restart after errors from now on).
    Enable,
    /// `disable`: an administrative shutdown (Cease 6/2) with this shutdown communication.
    Disable(String),
    /// `restart`: an administrative reset (Cease 6/4); the session starts again once the
    /// NOTIFICATION is written.
    Restart,
    /// The session's settings changed: reset (Cease 6/6); the driver starts a new session
    /// with the new settings.
    Reconfigure,
    /// The speaker stops. `notify`: an administrative shutdown, the peer drops our routes;
    /// otherwise a graceful stop, the peer keeps them stale (bgp-core sends Cease without Hard
    /// Reset under the N bit, or closes without NOTIFICATION).
    Shutdown {
        /// Tell the peer to drop our routes.
        notify: bool,
    },
    /// The neighbour left the configuration (Cease 6/3): its routes go, it is forgotten.
    Remove,
}

impl Admin {
    /// The command that carries the request out on the session.
    pub fn command(&self) -> Command {
        let stop = |subcode, message: &str| Command::Stop {
            subcode,
            message: message.into(),
        };
        match self {
            Admin::Enable => Command::Start,
            Admin::Disable(message) => Command::shutdown(message.clone()),
            Admin::Restart => stop(cease::ADMIN_RESET, "restart"),
            Admin::Reconfigure => stop(cease::OTHER_CONFIG_CHANGE, "configuration change"),
            Admin::Shutdown { notify: true } => Command::shutdown("bgpd shutting down"),
            Admin::Shutdown { notify: false } => Command::GracefulStop {
                message: "bgpd restarting".into(),
            },
            Admin::Remove => stop(cease::PEER_DECONFIGURED, "peer de-configured"),
        }
    }

    /// Whether the neighbour is administratively enabled after the request, if it says.
    pub fn enabled(&self) -> Option<bool> {
        match self {
            Admin::Enable => Some(true),
            Admin::Disable(_) => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subcode(a: Admin) -> Option<u8> {
        match a.command() {
            Command::Stop { subcode, .. } => Some(subcode),
            _ => None,
        }
    }

    #[test]
    fn each_request_stops_with_its_cease_subcode() {
        assert_eq!(
            subcode(Admin::Disable("x".into())),
            Some(cease::ADMIN_SHUTDOWN)
        );
        assert_eq!(subcode(Admin::Restart), Some(cease::ADMIN_RESET));
        assert_eq!(
            subcode(Admin::Reconfigure),
            Some(cease::OTHER_CONFIG_CHANGE)
        );
        assert_eq!(subcode(Admin::Remove), Some(cease::PEER_DECONFIGURED));
        assert_eq!(
            subcode(Admin::Shutdown { notify: true }),
            Some(cease::ADMIN_SHUTDOWN)
        );
        assert!(matches!(
            Admin::Shutdown { notify: false }.command(),
            Command::GracefulStop { .. }
        ));
        assert_eq!(Admin::Enable.command(), Command::Start);
    }

    #[test]
    fn the_shutdown_communication_is_the_operators() {
        assert_eq!(
            Admin::Disable("maintenance".into()).command(),
            Command::shutdown("maintenance")
        );
        assert_eq!(Admin::Enable.enabled(), Some(true));
        assert_eq!(Admin::Disable(String::new()).enabled(), Some(false));
        assert_eq!(Admin::Restart.enabled(), None);
    }
}

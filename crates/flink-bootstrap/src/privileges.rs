//! Dropping root to the user Flink runs as.

use std::ffi::CString;

use nix::unistd::{self, Uid, User};

use crate::exit::{fail, Exit, Failure, OrExit};

/// The user to switch to before exec, or `None` to stay as we are.
pub fn target_user(run_as: Option<&str>) -> Result<Option<User>, Failure> {
    let euid = unistd::geteuid();
    let name = match (euid.is_root(), run_as) {
        (true, None) => "flink",
        (true, Some("root")) | (false, None) => return Ok(None),
        (_, Some(name)) => name,
    };
    let user = lookup(name)?.ok_or_else(|| {
        let hint = if run_as.is_none() {
            " (the default when started as root); create it in the image (`useradd flink`) \
             or pass --run-as USER (--run-as root keeps root)"
        } else {
            ""
        };
        fail(
            Exit::UnknownUser,
            format!("user `{name}` does not exist{hint}"),
        )
    })?;
    if user.uid == euid {
        return Ok(None);
    }
    if !euid.is_root() {
        return Err(fail(
            Exit::PrivilegeDrop,
            format!("--run-as {name} needs root; running as uid {euid}"),
        ));
    }
    Ok(Some(user))
}

fn lookup(name: &str) -> Result<Option<User>, Failure> {
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    found.or_exit(Exit::UnknownUser)
}

/// Sets supplementary groups, gid and uid, in that order (after setuid nothing else is allowed).
pub fn drop_to(user: &User) -> Result<(), Failure> {
    let name = CString::new(user.name.as_str()).or_exit(Exit::PrivilegeDrop)?;
    unistd::initgroups(&name, user.gid)
        .and_then(|()| unistd::setgid(user.gid))
        .and_then(|()| unistd::setuid(user.uid))
        .map_err(|e| {
            fail(
                Exit::PrivilegeDrop,
                format!("cannot switch to user {}: {e}", user.name),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_users_are_named() {
        let err = target_user(Some("no-such-user-flink-bootstrap")).unwrap_err();
        assert_eq!(err.exit, Exit::UnknownUser);
        assert!(err.to_string().contains("no-such-user-flink-bootstrap"));
    }

    #[test]
    fn running_as_ourselves_needs_no_switch() {
        let me = unistd::geteuid();
        assert!(target_user(Some(&me.to_string())).unwrap().is_none());
        assert!(target_user(Some("root")).unwrap().is_none() || !me.is_root());
    }
}

// System users and owners for `splitmail provision`: see owners.hpp.
#include "setup/owners.hpp"

#include "setup/keys.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <string_view>

namespace splitmail::provision::setup {

namespace {

std::expected<void, std::string> ensure_user(const std::string& name, const std::string& home,
                                             std::ostream& out) {
    if (::getpwnam(name.c_str()) != nullptr) {
        out << "unchanged user " << name << "\n";
        return {};
    }
    auto r = setup::run_program({"useradd", "--system", "--user-group", "--home-dir", home,
                                 "--no-create-home", "--shell", "/usr/sbin/nologin", name},
                                "");
    if (!r)
        return std::unexpected("cannot create the system user " + name + ": " + r.error() +
                               " (create it with `useradd --system --user-group " + name +
                               "` and run again)");
    if (::getpwnam(name.c_str()) == nullptr)
        return std::unexpected("useradd succeeded but user " + name + " does not exist");
    out << "created user " << name << "\n";
    return {};
}

std::optional<owner> owner_of(const std::string& user, const std::string& group_name) {
    const passwd* pw = ::getpwnam(user.c_str());
    const struct group* gr = ::getgrnam(group_name.c_str());
    if (pw == nullptr || gr == nullptr) return std::nullopt;
    return owner{pw->pw_uid, gr->gr_gid, user + ":" + group_name};
}

} // namespace

std::expected<owners, std::string> prepare_owners(bool under_root, bool dry_run, bool with_ddns,
                                                  std::ostream& out) {
    owners w;
    if (under_root) {
        out << "note: --root given: no system user is created and no owner is changed\n";
        return w;
    }
    if (::geteuid() != 0)
        return std::unexpected("writing the system configuration needs root: run as root, or "
                               "give --root DIR to write the tree into a directory");
    if (dry_run) {
        // Nothing is created: owners are compared only where the users exist already.
        for (const char* u : {"splitmail", "splitmail-ddns"}) {
            if (!with_ddns && std::string_view(u) == "splitmail-ddns") continue;
            if (::getpwnam(u) == nullptr) out << "would create user " << u << "\n";
        }
        w.service = owner_of("splitmail", "splitmail");
        w.root_service = owner_of("root", "splitmail");
        w.root = owner_of("root", "root");
        if (with_ddns) w.ddns = owner_of("splitmail-ddns", "splitmail-ddns");
        return w;
    }
    if (auto r = ensure_user("splitmail", "/var/lib/splitmail", out); !r)
        return std::unexpected(r.error());
    if (with_ddns)
        if (auto r = ensure_user("splitmail-ddns", "/var/lib/splitmail-ddns", out); !r)
            return std::unexpected(r.error());
    w.service = owner_of("splitmail", "splitmail");
    w.root_service = owner_of("root", "splitmail");
    w.root = owner_of("root", "root");
    if (with_ddns) w.ddns = owner_of("splitmail-ddns", "splitmail-ddns");
    if (!w.service || !w.root_service || !w.root || (with_ddns && !w.ddns))
        return std::unexpected("the users/groups splitmail (and splitmail-ddns) are incomplete; "
                               "check /etc/passwd and /etc/group");
    return w;
}

} // namespace splitmail::provision::setup

// rspamd's wiring on the relay: see rspamd_wiring.hpp.
#include "setup/rspamd_wiring.hpp"
#include "splitmail/text/trim.hpp"

#include "setup/key_files.hpp"
#include "setup/keys.hpp"
#include "splitmail/auth/settings.hpp"

#include <utility>

namespace splitmail::provision::setup {

namespace fs = std::filesystem;

std::expected<std::string, std::string> ensure_rspamd_wiring(file_writer& w, const setup::layout& L,
                                                             const setup::tunnel& tun,
                                                             const owners& own) {
    std::error_code ec;
    const bool had = fs::exists(L.rspamd_password(), ec);
    auto pw = ensure_secret(
        w, L.rspamd_password(), 0600, own.root,
        [](const std::string& t) {
            auto v = auth::read_secret_text(t);
            return v && v->size() >= 16 && v->find('"') == std::string::npos;
        },
        [] { return random_hex_secret(24, "rspamd password"); }, "rspamd controller password");
    if (!pw) return std::unexpected(pw.error());
    const std::string password = *auth::read_secret_text(*pw);
    const fs::path ctl = L.rspamd_local_dir() / "worker-controller.inc";
    auto old = setup::read_if_exists(ctl);
    if (!old) return std::unexpected(old.error());
    std::string hash = *old && had ? setup::rspamd_password_hash(**old) : std::string();
    if (hash.empty()) {
        // rspamadm reads the password only from its command line (a moment in the process
        // list of this machine); it never reaches a file in plain text except ours (0600).
        auto h = setup::run_program({"rspamadm", "pw", "-p", password}, "");
        if (!h)
            return std::unexpected("rspamadm pw (to hash the rspamd controller password): " +
                                   h.error());
        hash = std::string(text::trim(*h));
        if (!hash.starts_with("$") || hash.find('"') != std::string::npos)
            return std::unexpected("rspamadm pw printed no password hash: " + *h);
    }
    const std::string text = setup::render_rspamd_controller(tun, hash);
    if (*old && **old != text && !had) {
        if (auto r = w.replace_file(ctl, text, 0644, own.root, "new controller password"); !r)
            return std::unexpected(r.error());
    } else if (auto r = w.file(ctl, text, 0644, own.root); !r) {
        return std::unexpected(r.error());
    }
    for (auto [name, content] :
         {std::pair{"worker-normal.inc", setup::render_rspamd_worker_normal()},
          std::pair{"redis.conf", setup::render_rspamd_redis()}})
        if (auto r = w.file(L.rspamd_local_dir() / name, content, 0644, own.root); !r)
            return std::unexpected(r.error());
    if (auto r = w.file(L.unit_dir() / "rspamd.service.d" / "splitmail.conf",
                        setup::render_rspamd_dropin(setup::relay_interface), 0644, own.root);
        !r)
        return std::unexpected(r.error());
    return password;
}

} // namespace splitmail::provision::setup

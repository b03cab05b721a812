#pragma once
// One accepted IMAP connection: implicit TLS (imaps) or plain with STARTTLS, user
// authentication against the live user database, then the IMAP driver.
//
// Guarantees: every LOGIN/AUTHENTICATE goes through users/login.hpp (the shared login brake,
// one normalisation of the name); LOGIN/AUTHENTICATE before TLS only from a loopback peer and only when
// `plaintext_on_loopback` is set; passwords are never logged; at most
// `max_connections_per_user` logged-in sessions per user (the slot is given back when the
// connection ends, however it ends); the password hash is verified on `auth_pool`, never on
// the io thread; once logged in, the session's mailbox work runs on the user's strand
// (`user_exec`, users/executors.hpp) and its folders are shared through `folders`.
// The login deadline counts from the accept (TLS handshakes included), and a login moves the
// connection out of the listener's pre-login pool (driver_options::on_login).
// Does not: accept or count connections (net::server and net::admission do).
#include "imap/driver.hpp"
#include "learn/rspamd_learn.hpp"

#include "splitmail/auth/brake.hpp"
#include "splitmail/net/connection.hpp"
#include "splitmail/net/tls.hpp"
#include "splitmail/users/live_database.hpp"
#include "users/executors.hpp"
#include "users/login.hpp"
#include "users/verified_cache.hpp"

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

namespace splitmail::home::imap {

struct listener_context {
    std::string hostname;
    net::tls_context tls; // null: no TLS at all (tests only)
    bool plaintext_on_loopback = false;
    users::live_database* users = nullptr;
    std::filesystem::path maildir_root;
    driver_options driver;
    codec_limits limits;
    std::atomic<std::uint64_t> next_id{1};
    // Logged-in sessions per user (imap.max_connections_per_user); per-IP and total caps are
    // net::server's.
    std::size_t max_connections_per_user = 20;
    std::mutex users_mutex;
    std::map<std::string, std::size_t> sessions_per_user;
    // Where password hashes (argon2id: a few hundred ms of CPU) are verified, so other
    // connections are not held up; null: on the io thread (tests).
    boost::asio::thread_pool* auth_pool = nullptr;
    hash_workers* hashers = nullptr; // the pool's threads ask these processes (null: in-process)
    // The login brake shared with LMTP XAUTH (service.cpp); null: no brake (tests).
    auth::brake* brake = nullptr;
    // Verified-credential cache shared with LMTP XAUTH (users/verified_cache.hpp); null: none.
    verified_cache* auth_cache = nullptr;
    // Per-user strands for mailbox work (issue 12 item 4); null: on the io thread (tests).
    user_executors* user_exec = nullptr;
    // The open folders, locks and watches of the process (store.hpp); null: standalone().
    imap::folder_registry* folders = nullptr;
    // maildir.junk_folder, and rspamd learning of moves into and out of it; null: no learning.
    std::string junk_folder = "Junk";
    learn::rspamd_learner* learner = nullptr;
};

// `implicit_tls`: the imaps port (TLS from the first byte).
net::asio::awaitable<void> serve_imap(net::connection& c, listener_context& ctx, bool implicit_tls);

// The Maildir of `user` (local@domain) below root.
std::filesystem::path user_maildir(const std::filesystem::path& root, const std::string& user);

} // namespace splitmail::home::imap

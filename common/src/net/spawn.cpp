// Supervised coroutine spawns; see spawn.hpp.
#include "splitmail/net/spawn.hpp"

#include "splitmail/log/log.hpp"

#include <cstdlib>
#include <stdexcept>

namespace splitmail::net {

namespace {
std::function<void(std::string_view)>& handler() {
    static std::function<void(std::string_view)> h;
    return h;
}

std::string describe(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown exception";
    }
}
} // namespace

void set_fatal_handler(std::function<void(std::string_view what)> h) { handler() = std::move(h); }

void coroutine_died(std::string_view what, std::exception_ptr e) {
    log::error("internal", "",
               std::string(what) + " failed; stopping so that the service "
                                   "manager restarts us",
               {{"error", describe(e)}});
    if (auto& h = handler())
        h(what);
    else
        std::abort();
}

} // namespace splitmail::net

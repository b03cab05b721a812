#include "splitmail/users/credential.hpp"

namespace splitmail::users {

credential::~credential() {
    volatile char* p = password.data(); // volatile: the stores are not optimised away
    for (std::size_t i = 0; i < password.size(); ++i) p[i] = 0;
}

} // namespace splitmail::users

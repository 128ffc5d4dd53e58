// test process: the peer table shared by a real fork, as the supervisor shares it with workers.
#include "ipc/peer_table.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace backupd::ipc {
namespace {

PeerAddress V4(uint8_t last) { return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, last}; }

TEST(PeerTableTest, CountsSlotsServingTheSameAddress) {
  Result<PeerTable> table = PeerTable::Create();
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->Claim(0, V4(1)), 1u);
  EXPECT_EQ(table->Claim(1, V4(1)), 2u);
  EXPECT_EQ(table->Claim(2, V4(2)), 1u);
  table->Release(0);
  EXPECT_EQ(table->Claim(3, V4(1)), 2u);
  // A slot re-claimed for another address no longer counts for the old one.
  EXPECT_EQ(table->Claim(1, V4(2)), 2u);
  EXPECT_EQ(table->Claim(4, V4(1)), 2u);
}

PeerAddress V6(uint8_t subnet, uint8_t host) {
  return {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, subnet, 0, 0, 0, 0, 0, 0, 0, host};
}

TEST(PeerTableTest, IPv6IsCountedPerSlash64AndIPv4PerAddress) {
  Result<PeerTable> table = PeerTable::Create();
  ASSERT_TRUE(table.ok());
  // One host picking a new address of its /64 for each connection is still one source.
  EXPECT_EQ(table->Claim(0, V6(1, 1)), 1u);
  EXPECT_EQ(table->Claim(1, V6(1, 2)), 2u);
  EXPECT_EQ(table->Claim(2, V6(2, 1)), 1u);
  EXPECT_EQ(table->Claim(3, V4(1)), 1u);
  EXPECT_EQ(table->Claim(4, V4(2)), 1u);
  EXPECT_EQ(SourceBlock(V6(1, 2)), V6(1, 0));
  EXPECT_EQ(SourceBlock(V4(2)), V4(2));
}

TEST(PeerTableTest, AChildsClaimIsSeenByTheParent) {
  Result<PeerTable> table = PeerTable::Create();
  ASSERT_TRUE(table.ok());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    table->Claim(5, V4(9));
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(table->Claim(6, V4(9)), 2u);
  // The supervisor clears a dead worker's slot.
  table->Release(5);
  EXPECT_EQ(table->Claim(6, V4(9)), 1u);
}

}  // namespace
}  // namespace backupd::ipc

#include "cli/progress.h"

#include <gtest/gtest.h>

#include <string>

namespace ktsync {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

ProgressSample Transfer() {
  ProgressSample s;
  s.bytes = kGiB + kGiB / 2;
  s.bytes_total = 3 * kGiB;
  s.files = 1234;
  s.files_total = 5678;
  s.planned = true;
  s.secs = 15;
  return s;
}

TEST(ProgressText, ShowsTheTransferWithEveryFieldWhenThereIsRoom) {
  EXPECT_EQ(" 50%  1.50 GiB / 3.00 GiB  files 1234/5678  102.40 MiB/s  ETA 0:15", ProgressText(Transfer()));
}

TEST(ProgressText, MarksTotalsThatStillGrowAndSaysItIsComparing) {
  ProgressSample s = Transfer();
  s.planned = false;
  EXPECT_EQ(" 50%  1.50 GiB / 3.00 GiB+  files 1234/5678+  102.40 MiB/s  comparing", ProgressText(s));
}

TEST(ProgressText, DropsTheLeastTellingFieldsToFitNarrowTerminals) {
  EXPECT_EQ(" 50%  1.50 GiB / 3.00 GiB  files 1234/5678  ETA 0:15", ProgressText(Transfer(), 52));
  EXPECT_EQ(" 50%  1.50 GiB / 3.00 GiB  ETA 0:15", ProgressText(Transfer(), 49));
  EXPECT_EQ(" 50%", ProgressText(Transfer(), 5));
  EXPECT_EQ(" 5", ProgressText(Transfer(), 2));
  for (size_t w = 1; w < 90; ++w) EXPECT_LE(ProgressText(Transfer(), w).size(), w);
}

TEST(ProgressText, ShowsScanningBeforeAnythingIsToMove) {
  ProgressSample s;
  s.scanned = 12345;
  s.secs = 3;
  EXPECT_EQ("scanning  12345 entries  0:03", ProgressText(s));
}

TEST(ProgressText, ShowsHashingWhileFilesAreReadToCompareThem) {
  ProgressSample s;
  s.scanned = 10;
  s.hashed = kGiB;
  s.hash_total = 4 * kGiB;
  s.secs = 3;
  EXPECT_EQ("hashing   25%  1.00 GiB / 4.00 GiB  10 entries scanned  0:03", ProgressText(s));
  EXPECT_EQ("hashing   25%  1.00 GiB / 4.00 GiB  0:03", ProgressText(s, 49));
  EXPECT_EQ("hashing   25%  1.00 GiB / 4.00 GiB", ProgressText(s, 39));
}

TEST(ProgressText, SaysWhatWasComparedWhenNoFileDataWasToMove) {
  ProgressSample s;
  s.planned = true;
  s.scanned = 7;
  s.secs = 2;
  EXPECT_EQ("100%  no file data to send  7 entries scanned  elapsed 0:02", ProgressText(s));
  s.hashed = s.hash_total = 4 * kGiB;
  EXPECT_EQ("100%  no file data to send  7 entries scanned  4.00 GiB hashed  elapsed 0:02", ProgressText(s));
  EXPECT_EQ("100%  no file data to send  elapsed 0:02", ProgressText(s, 49));
}

}  // namespace
}  // namespace ktsync

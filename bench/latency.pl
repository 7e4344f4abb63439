#!/usr/bin/perl
# bench/latency.pl COMMITS PAYMENTS_JSON DATA_OUT LABEL TARGET_MS
#
# Commit-to-send latency of payments committed one at a time (bench/run.sh).
# COMMITS has one line per payment, "reference_id commit_epoch" (the server's
# clock right after the payment's transaction committed); PAYMENTS_JSON is
# the sandbox's GET /_sandbox/payments, whose accepted_us is the wall-clock
# time it stored each POST.  Writes "seconds_since_first_commit latency_ms"
# per payment sent to DATA_OUT (for gnuplot) and prints one line:
#   LABEL: p50 X ms, p99 Y ms, max Z ms over K payments (U not sent); ratio p99/TARGET = R
# Percentiles are nearest-rank over the payments sent.
use strict;
use warnings;
use JSON::PP;

my ($commits, $json_file, $out, $label, $target) = @ARGV;
die "usage: $0 COMMITS PAYMENTS_JSON DATA_OUT LABEL TARGET_MS\n" unless defined $target;

my %accepted_us;
{
	local $/;
	open my $fh, '<', $json_file or die "$json_file: $!\n";
	my $list = decode_json(<$fh>);
	$accepted_us{ lc $_->{referenceId} } = $_->{accepted_us} for @$list;
}

my (@lat, $first);
my $unsent = 0;
open my $in, '<', $commits or die "$commits: $!\n";
open my $dat, '>', $out or die "$out: $!\n";
while (<$in>)
{
	my ($ref, $t) = split;
	next unless defined $t;
	$first //= $t;
	my $acc = $accepted_us{ lc $ref };
	if (!defined $acc)
	{
		$unsent++;
		next;
	}
	my $ms = ($acc / 1e6 - $t) * 1000;
	push @lat, $ms;
	printf $dat "%.3f %.3f\n", $t - $first, $ms;
}
close $dat;

my @s = sort { $a <=> $b } @lat;
my $pct = sub {
	my ($p) = @_;
	return 'n/a' unless @s;
	my $i = int($p / 100 * @s + 0.999999) - 1;
	$i = 0 if $i < 0;
	return sprintf '%.1f', $s[$i];
};
my $p99 = $pct->(99);
printf "%s: p50 %s ms, p99 %s ms, max %s ms over %d payments (%d not sent); ratio p99/%s ms = %s\n",
  $label, $pct->(50), $p99, (@s ? sprintf('%.1f', $s[-1]) : 'n/a'), scalar(@s) + $unsent, $unsent,
  $target, ($p99 eq 'n/a' ? 'n/a' : sprintf('%.2f', $p99 / $target));

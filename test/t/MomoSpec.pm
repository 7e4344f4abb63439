
# MomoSpec.pm - checks a request momo sent against MTN's own definition files
# (test/t/momo-api-spec/: collection.openapi3.json, *.swagger2.json,
# *.operations.json, copied from MTN's published definitions), for the
# contract test t/043_contract.pl.  Core Perl and JSON::PP only.
#
#   my $spec = MomoSpec->new;              # or MomoSpec->new(dir => $dir)
#   my $r = $spec->check($request);
#       $request: {method, path, headers => {name => value}, body => text|undef}
#                 as the sandbox's GET /_sandbox/recorded gives it
#       $r->{operation}: "collection POST /v1_0/requesttopay/{referenceId}/..."
#                        (undef when no definition has the operation)
#       $r->{sources}:   the definition files the request was checked against
#       $r->{problems}:  readable problems, none when the request conforms
#   my @problems = $spec->problems($request);
#
# What is checked: the operation exists (method and path template, under the
# product's base path); every header parameter the operation requires is
# there (and the subscription key, which the definitions' security asks for);
# X-Reference-Id (header or path parameter) and referenceId path parameters
# are UUID version 4; a body is JSON, sent as application/json (or a form,
# application/x-www-form-urlencoded, where the definition takes one: the
# consent flow's), and conforms to the operation's request schema (a JSON-Schema subset: type, properties,
# required, enum, format uuid, maxLength, $ref, additionalProperties when
# stated); an operation with no body gets none.  Where MTN's live API differs
# from or goes beyond the definition, momo-api/README.md ("build for what the
# live API does, and accept what the definition says") is followed, and each
# such rule says so where it is applied below.
package MomoSpec;

use strict;
use warnings;

use B ();
use File::Basename qw(dirname);
use JSON::PP;

my $UUID4 = qr/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$/;
my $UUID  = qr/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

# Operations that *.operations.json lists without parameters or schemas
# (disbursement's deposit and refund, basicuserinfo, ...) are checked against
# the definition of a sibling operation of the same product, as README
# ("Bodies", "Headers on every product call") describes them: a deposit and a
# refund take a transfer's headers and body, a refund adds
# referenceIdToRefund, their status GETs are a transfer status GET's, and
# the other GETs take the headers of the product's account-holder check.
# Their version 2 (/v2_0, listed the same way) takes version 1's headers and
# body: MTN's definitions give them no other.
my %BORROW = (
	'POST /v1_0/deposit'                 => [ 'POST', '/v1_0/transfer' ],
	'POST /v1_0/refund'                  => [ 'POST', '/v1_0/transfer', 'refund' ],
	'POST /v2_0/deposit'                 => [ 'POST', '/v1_0/transfer' ],
	'POST /v2_0/refund'                  => [ 'POST', '/v1_0/transfer', 'refund' ],
	# remittance's cash transfer: a transfer's headers and body, plus the
	# originating side (README's "Bodies"), and a transfer's status GET
	'POST /v2_0/cashtransfer'            => [ 'POST', '/v1_0/transfer', 'cashtransfer' ],
	'GET /v2_0/cashtransfer/{referenceId}' => [ 'GET', '/v1_0/transfer/{referenceId}' ],
	'GET /v1_0/deposit/{referenceId}'    => [ 'GET',  '/v1_0/transfer/{referenceId}' ],
	'GET /v1_0/refund/{referenceId}'     => [ 'GET',  '/v1_0/transfer/{referenceId}' ],
	'GET *'                              => [ 'GET',  '/v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/active' ],
	# the consent flow: disbursement's and remittance's lists name its three
	# operations without a definition; Collection's OpenAPI document defines
	# them (the fourth element: the product whose definition is borrowed)
	'POST /v1_0/bc-authorize'            => [ 'POST', '/v1_0/bc-authorize', undef, 'collection' ],
	'POST /oauth2/token/'                => [ 'POST', '/oauth2/token/', undef, 'collection' ],
	'GET /oauth2/v1_0/userinfo'          => [ 'GET',  '/oauth2/v1_0/userinfo', undef, 'collection' ],
);

sub new
{
	my ($class, %o) = @_;
	my $dir = $o{dir} // dirname(__FILE__) . '/momo-api-spec';
	my $self = bless { dir => $dir, ops => [] }, $class;
	opendir my $dh, $dir or die "MomoSpec: cannot read $dir: $!";
	my @files = sort grep { /\.json$/ } readdir $dh;
	closedir $dh;
	die "MomoSpec: no definition files in $dir" unless @files;
	$self->_load($_) for @files;
	return $self;
}

sub _read_json
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "MomoSpec: cannot open $path: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	return JSON::PP->new->utf8->decode($text);
}

# Loads one definition file: each operation with its base path (the product),
# parameters, body schema and the document its $refs point into.
sub _load
{
	my ($self, $file) = @_;
	my $doc = _read_json("$self->{dir}/$file");
	my ($product) = $file =~ /^([a-z]+)\./;
	if ($doc->{value})    # a developer-portal operation list: no schemas
	{
		for my $o (@{ $doc->{value} })
		{
			push @{ $self->{ops} }, {
				file => $file, doc => $doc, product => $product,
				base => "/$product", method => uc $o->{method},
				template => $o->{urlTemplate}, schemaless => 1 };
		}
		return;
	}
	my $base;
	if (defined $doc->{swagger})
	{
		$base = $doc->{basePath} // '';
	}
	else
	{
		($base) = ($doc->{servers}[0]{url} // '') =~ m{^https?://[^/]+(/.*)?$};
		$base //= '';
	}
	$base =~ s{/$}{};
	# the definitions' security: the subscription key as a header (or a query
	# parameter, which momo does not use)
	my $needs_key = grep { exists $_->{apiKeyHeader} } @{ $doc->{security} || [] };
	for my $path (sort keys %{ $doc->{paths} })
	{
		my $item = $doc->{paths}{$path};
		for my $m (sort keys %$item)
		{
			next unless $m =~ /^(get|post|put|delete|patch)$/;
			my $o = $item->{$m};
			my @params = map { _deref($doc, $_) } @{ $item->{parameters} || [] }, @{ $o->{parameters} || [] };
			my ($schema, $form_schema, @ctypes, $has_body);
			if ($o->{requestBody})    # OpenAPI 3
			{
				my $rb = _deref($doc, $o->{requestBody});
				@ctypes = sort keys %{ $rb->{content} || {} };
				$has_body = 1;
				$schema = $rb->{content}{'application/json'}{schema} if $rb->{content}{'application/json'};
				$form_schema = $rb->{content}{'application/x-www-form-urlencoded'}{schema}
				  if $rb->{content}{'application/x-www-form-urlencoded'};
			}
			for my $p (@params)    # Swagger 2
			{
				next unless ($p->{in} // '') eq 'body';
				$has_body = 1;
				$schema = $p->{schema};
				@ctypes = @{ $o->{consumes} || $doc->{consumes} || ['application/json'] };
			}
			push @{ $self->{ops} }, {
				file => $file, doc => $doc, product => $product, base => $base,
				method => uc $m, template => $path, params => [ grep { ($_->{in} // '') ne 'body' } @params ],
				schema => $schema, form_schema => $form_schema, has_body => $has_body, ctypes => \@ctypes,
				needs_key => $needs_key };
		}
	}
}

sub _deref
{
	my ($doc, $node) = @_;
	my $seen = 0;
	while (ref $node eq 'HASH' && defined $node->{'$ref'})
	{
		my $ref = $node->{'$ref'};
		die "MomoSpec: \$ref loop at $ref" if ++$seen > 32;
		die "MomoSpec: only local \$refs are supported: $ref" unless $ref =~ s{^#/}{};
		$node = $doc;
		for my $part (split m{/}, $ref)
		{
			$part =~ s/~1/\//g;
			$part =~ s/~0/~/g;
			die "MomoSpec: unresolved \$ref #/$ref" unless ref $node eq 'HASH' && exists $node->{$part};
			$node = $node->{$part};
		}
	}
	return $node;
}

# The path template as a regex: literal text quoted, each {name} one segment.
# Returns (regex, parameter names, number of literal characters).
sub _template_re
{
	my ($t) = @_;
	my (@names, $re, $lit);
	$re = '';
	$lit = 0;
	for my $piece (split /(\{[^}]+\})/, $t)
	{
		if ($piece =~ /^\{(.+)\}$/)
		{
			push @names, $1;
			$re .= '([^/]+)';
		}
		else
		{
			$re .= quotemeta $piece;
			$lit += length $piece;
		}
	}
	return (qr/^$re$/, \@names, $lit);
}

# Definitions of the operation a request is for: the most literal template
# that matches, from every file that defines it.
sub _find
{
	my ($self, $method, $path) = @_;
	my ($best, @found) = (-1);
	for my $op (@{ $self->{ops} })
	{
		next unless $op->{method} eq $method;
		my $base = $op->{base};
		next unless substr($path, 0, length $base) eq $base;
		my $rest = substr($path, length $base);
		my ($re, $names, $lit) = _template_re($op->{template});
		my @vals = $rest =~ $re or next;
		my %pv;
		@pv{@$names} = @vals;
		my $score = length($base) + $lit;
		if ($score > $best)
		{
			($best, @found) = ($score);
		}
		push @found, { op => $op, path_values => \%pv } if $score == $best;
	}
	return @found;
}

sub problems
{
	my ($self, $req) = @_;
	return @{ $self->check($req)->{problems} };
}

sub check
{
	my ($self, $req) = @_;
	my $method = uc($req->{method} // '');
	my $path = $req->{path} // '';
	my %h = map { lc($_) => $req->{headers}{$_} } keys %{ $req->{headers} || {} };
	my @found = $self->_find($method, $path);
	my $r = { operation => undef, sources => [], problems => [] };
	unless (@found)
	{
		push @{ $r->{problems} }, "$method $path is no operation of MTN's definition files";
		return $r;
	}
	my $op0 = $found[0]{op};
	$r->{operation} = "$op0->{product} $method $op0->{template}";
	# operations with parameters and schemas; those of a list without any
	# borrow a sibling's (see %BORROW)
	my @defs = grep { !$_->{op}{schemaless} } @found;
	unless (@defs)
	{
		my $b = $BORROW{"$method $op0->{template}"} // ($method eq 'GET' ? $BORROW{'GET *'} : undef);
		my $from = $b ? $b->[3] // $op0->{product} : undef;
		my @sib = $b ? grep { !$_->{op}{schemaless} && $_->{op}{product} eq $from
			  && $_->{op}{method} eq $b->[0] && $_->{op}{template} eq $b->[1] }
		  map { { op => $_ } } @{ $self->{ops} } : ();
		if (!@sib)
		{
			push @{ $r->{sources} }, $op0->{file};
			push @{ $r->{problems} }, "$r->{operation}: listed in $op0->{file} without a definition, and no sibling to check it against";
			return $r;
		}
		for my $s (@sib)
		{
			push @defs, { op => $s->{op}, path_values => $found[0]{path_values},
				borrowed => "$op0->{file} lists it; checked as $b->[0] $b->[1] of $s->{op}{file}",
				refund => ($b->[2] // '') };
		}
	}
	# The id types of an account holder the operation's definitions allow:
	# they disagree (Collection's OpenAPI 3 lists msisdn and email for
	# active, its Swagger 2.0 and those of the other products party_code
	# too; basicuserinfo's enum is MSISDN, Email, Alias, ID), and a type any
	# of them lists is accepted (README: "accept what the definition says").
	my %id_types;
	for my $d (@defs)
	{
		for my $prm (@{ $d->{op}{params} })
		{
			next unless ($prm->{name} // '') eq 'accountHolderIdType';
			my @v = @{ ($prm->{schema} // {})->{enum} // $prm->{enum} // [] };
			push @v, split /\s*,\s*/, $1 if ($prm->{description} // '') =~ /Allowed values \[([^\]]+)\]/;
			$id_types{ lc $_ } = 1 for @v;
		}
	}
	$_->{id_types} = \%id_types for @defs;
	my %seen;
	for my $d (@defs)
	{
		push @{ $r->{sources} }, $d->{borrowed} // $d->{op}{file};
		for my $p ($self->_check_one($d, $method, \%h, $req))
		{
			push @{ $r->{problems} }, "$p ($d->{op}{file})" unless $seen{$p}++;
		}
	}
	return $r;
}

sub _check_one
{
	my ($self, $d, $method, $h, $req) = @_;
	my $op = $d->{op};
	my @p;
	# the access token's and the consent flow's OAuth2 token's: HTTP Basic
	my $is_token = $op->{template} =~ m{^/(oauth2/)?token/$};

	# the header parameters the operation requires
	for my $prm (@{ $op->{params} })
	{
		next unless ($prm->{in} // '') eq 'header' && $prm->{required};
		my $v = $h->{ lc $prm->{name} };
		push @p, "required header $prm->{name} is missing" unless defined $v;
		push @p, "required header $prm->{name} is empty" if defined $v && $v eq '';
	}
	push @p, 'header Ocp-Apim-Subscription-Key is missing (the definition\'s security)'
	  if $op->{needs_key} && ($h->{'ocp-apim-subscription-key'} // '') ne 'present';

	# Authorization: the definitions say "Basic" for the token operation and a
	# bearer token for the others (README, "Credentials"). The sandbox shows
	# only the scheme.
	my ($auth) = grep { ($_->{in} // '') eq 'header' && lc $_->{name} eq 'authorization' } @{ $op->{params} };
	if ($auth && defined $h->{authorization})
	{
		my $want = $is_token ? 'Basic' : 'Bearer';
		push @p, "Authorization has scheme \"$h->{authorization}\", not $want"
		  unless $h->{authorization} eq $want;
	}
	elsif ($auth && !$auth->{required})
	{
		# Swagger 2.0 marks Authorization optional; the product calls need it
		# (README, "Headers on every product call")
		push @p, 'header Authorization is missing';
	}

	# X-Reference-Id, as a header or in the path, and referenceId in the path:
	# a UUID version 4 (the definitions' descriptions; README: MTN answers 400
	# to a reference id that is not UUIDv4)
	for my $prm (@{ $op->{params} })
	{
		my $in = $prm->{in} // '';
		my $name = $prm->{name};
		# (GetInvoiceStatus and GetPaymentStatus name theirs x-referenceId)
		next unless $name =~ /^(x-reference-id|x-referenceid|referenceid)$/i;
		my $v = $in eq 'header' ? $h->{ lc $name } : $in eq 'path' ? $d->{path_values}{$name} : undef;
		next unless defined $v;
		push @p, "$name \"$v\" ($in) is not a UUID version 4" unless $v =~ $UUID4;
	}

	# path parameters: an account holder's id type is one the definitions
	# list (see check), msisdn or email when none does, in small letters
	# (the definition's description)
	if (defined(my $t = $d->{path_values}{accountHolderIdType}))
	{
		my %ok = %{ $d->{id_types} || {} };
		%ok = (msisdn => 1, email => 1) unless %ok;
		push @p, "accountHolderIdType \"$t\" is not " . join(' or ', sort keys %ok)
		  unless $ok{$t} && $t eq lc $t;
	}
	# EMAIL: an e-mail address (the definitions' IsEmail); PARTY_CODE: a UUID
	# (the Party schema's IsUuid)
	my $holder_type = $d->{path_values}{accountHolderIdType} // '';
	my $holder = $d->{path_values}{accountHolderId};
	push @p, "the account holder \"$holder\" is not an e-mail address"
	  if $holder_type eq 'email' && defined $holder && $holder !~ /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
	push @p, "the account holder \"$holder\" is not a party code (a UUID)"
	  if $holder_type eq 'party_code' && defined $holder && $holder !~ $UUID;
	# MSISDN: digits with the country code, no "+" (README, "Bodies")
	my $msisdn = $d->{path_values}{accountHolderMSISDN};
	$msisdn = $d->{path_values}{accountHolderId}
	  if ($d->{path_values}{accountHolderIdType} // '') eq 'msisdn';
	push @p, "the account holder \"$msisdn\" is not an MSISDN (digits only)"
	  if defined $msisdn && $msisdn !~ /^[0-9]{8,15}$/;

	# the body
	my $body = $req->{body};
	my $blen = $req->{body_length} // (defined $body ? length $body : 0);
	if (defined $req->{body_utf8} && !$req->{body_utf8})
	{
		push @p, 'the body is not valid UTF-8';
		return @p;
	}
	if (!$op->{has_body})
	{
		push @p, "the operation takes no body, but $blen bytes were sent" if $blen > 0;
		# a bodyless POST needs Content-Length: 0 (README, "Credentials": else 411)
		push @p, 'a POST without a body must carry Content-Length: 0'
		  if $method eq 'POST' && ($h->{'content-length'} // '') ne '0';
		return @p;
	}
	if (!defined $body || $body eq '')
	{
		push @p, 'the operation takes a body, but none was sent';
		return @p;
	}
	my $ct = $h->{'content-type'} // '';
	$ct =~ s/;.*//;
	push @p, "Content-Type is \"$ct\", not one of the definition's (@{ $op->{ctypes} })"
	  unless grep { lc $_ eq lc $ct } @{ $op->{ctypes} };
	if (lc $ct eq 'application/x-www-form-urlencoded')
	{
		my ($form, @fp) = _parse_form($body);
		push @p, @fp;
		return @p unless $form;
		push @p, _validate($op->{doc}, $op->{form_schema}, $form, 'body') if $op->{form_schema};
		push @p, _form_rules($op, $form);
		return @p;
	}
	my $json = eval { JSON::PP->new->decode($body) };
	if (!defined $json && $@)
	{
		(my $e = $@) =~ s/ at \S+ line \d+.*//s;
		push @p, "the body is not JSON: $e";
		return @p;
	}
	my $schema = $op->{schema};
	if ($schema)
	{
		push @p, _validate($op->{doc}, $schema, $json, 'body', $d->{refund});
	}
	push @p, _live_rules($op, $json, $d->{refund});
	return @p;
}

# A form body (application/x-www-form-urlencoded) as a hash of its decoded
# members, and its problems: a member without "=", a bad %-escape, a
# repeated member, text that is not UTF-8.
sub _parse_form
{
	my ($body) = @_;
	my (%f, @p);
	for my $pair (split /&/, $body, -1)
	{
		my ($k, $v) = $pair =~ /^([^=]*)=(.*)$/s or do { push @p, "form member \"$pair\" has no \"=\""; next };
		for ($k, $v)
		{
			push @p, "form member \"$pair\" has a malformed %-escape" if /%(?![0-9A-Fa-f]{2})/;
			s/\+/ /g;
			s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
			push @p, "form member \"$pair\" is not UTF-8" unless utf8::decode($_);
		}
		push @p, "form member $k is repeated" if exists $f{$k};
		$f{$k} = $v;
	}
	return (@p ? undef : \%f, @p);
}

# What the consent flow's forms must hold beyond the definition's schemas,
# which require no member: their examples (bc-authorize's
# "login_hint=ID:{msisdn}/MSISDN&scope={scope}&access_type={online/offline}",
# the token's "grant_type=urn:openid:params:grant-type:ciba&auth_req_id={auth_req_id}").
sub _form_rules
{
	my ($op, $f) = @_;
	my @p;
	if ($op->{template} eq '/v1_0/bc-authorize')
	{
		for my $k (qw(login_hint scope access_type))
		{
			push @p, "body: $k is missing (the definition's example has it)" unless defined $f->{$k};
		}
		# MSISDN: digits with the country code, no "+" (README, "Bodies")
		push @p, "body: login_hint \"$f->{login_hint}\" is not ID:{msisdn}/MSISDN"
		  if defined $f->{login_hint} && $f->{login_hint} !~ m{^ID:[0-9]{8,15}/MSISDN$};
		push @p, 'body: scope is empty' if defined $f->{scope} && $f->{scope} eq '';
	}
	elsif ($op->{template} eq '/oauth2/token/')
	{
		push @p, "body: grant_type \"" . ($f->{grant_type} // '') . "\" is not urn:openid:params:grant-type:ciba"
		  unless ($f->{grant_type} // '') eq 'urn:openid:params:grant-type:ciba';
		push @p, 'body: auth_req_id is missing or empty' unless length($f->{auth_req_id} // '');
	}
	return @p;
}

# What the live API asks of a payment body beyond the definition, whose
# schemas list no required member at all (README, "Bodies").
sub _live_rules
{
	my ($op, $json, $refund) = @_;
	my @p;
	return @p unless ref $json eq 'HASH';
	my $party;
	$party = 'payer' if exists $op->{schema} && _schema_has($op, 'payer');
	$party = 'payee' if exists $op->{schema} && _schema_has($op, 'payee');
	# an invoice's (CreateInvoice) party is its intendedPayer; its payee is
	# optional, a party checked like any other when it is there
	$party = 'intendedPayer' if exists $op->{schema} && _schema_has($op, 'intendedPayer');
	if ($party)
	{
		# a payment: the amount, its currency and the party are needed; a
		# pre-approval (MTN's PreApproval, which has no amount): the payer
		# and payerCurrency
		my @needed = _schema_has($op, 'amount') ? ('amount', 'currency', $party) : ($party, 'payerCurrency');
		for my $k (@needed)
		{
			push @p, "body: $k is missing (README, \"Bodies\": every payment has it)" unless exists $json->{$k};
		}
		# amount is a JSON string (README: "amount is a JSON string"; the
		# definition agrees): a plain decimal, no sign or exponent
		push @p, "body: amount \"$json->{amount}\" is not a decimal amount such as \"1500\" or \"12.50\""
		  if defined $json->{amount} && !ref $json->{amount} && $json->{amount} !~ /^[0-9]+(\.[0-9]+)?$/;
		my $pty = $json->{$party};
		if (ref $pty eq 'HASH')
		{
			for my $k (qw(partyIdType partyId))
			{
				push @p, "body: $party.$k is missing" unless exists $pty->{$k};
			}
			# MSISDN: digits with the country code, no "+" (README, "Bodies");
			# EMAIL an e-mail address, PARTY_CODE a UUID (the Party schema's
			# IsEmail and IsUuid)
			push @p, "body: $party.partyId \"$pty->{partyId}\" is not an MSISDN (digits only)"
			  if ($pty->{partyIdType} // '') eq 'MSISDN' && defined $pty->{partyId}
			  && $pty->{partyId} !~ /^[0-9]{8,15}$/;
			push @p, "body: $party.partyId \"$pty->{partyId}\" is not an e-mail address"
			  if ($pty->{partyIdType} // '') eq 'EMAIL' && defined $pty->{partyId}
			  && $pty->{partyId} !~ /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
			push @p, "body: $party.partyId \"$pty->{partyId}\" is not a party code (a UUID)"
			  if ($pty->{partyIdType} // '') eq 'PARTY_CODE' && defined $pty->{partyId}
			  && $pty->{partyId} !~ $UUID;
		}
		my $payee = $party eq 'intendedPayer' ? $json->{payee} : undef;
		if (ref $payee eq 'HASH')
		{
			for my $k (qw(partyIdType partyId))
			{
				push @p, "body: payee.$k is missing" unless exists $payee->{$k};
			}
			push @p, "body: payee.partyId \"$payee->{partyId}\" is not an MSISDN (digits only)"
			  if ($payee->{partyIdType} // '') eq 'MSISDN' && defined $payee->{partyId}
			  && $payee->{partyId} !~ /^[0-9]{8,15}$/;
		}
		# validityDuration: seconds, as a string (the definition's type)
		push @p, "body: validityDuration \"$json->{validityDuration}\" is not a number of seconds"
		  if $party eq 'intendedPayer' && defined $json->{validityDuration} && !ref $json->{validityDuration}
		  && $json->{validityDuration} !~ /^[1-9][0-9]*$/;
	}
	# a payment to a service provider (CreatePayments): money {amount,
	# currency}, a decimal amount as a string, and whom it is for, by whom
	if (exists $op->{schema} && _schema_has($op, 'money'))
	{
		for my $k (qw(money customerReference serviceProviderUserName))
		{
			push @p, "body: $k is missing (README, \"Bodies\": every payment has it)" unless exists $json->{$k};
		}
		my $m = $json->{money};
		if (ref $m eq 'HASH')
		{
			for my $k (qw(amount currency))
			{
				push @p, "body: money.$k is missing" unless exists $m->{$k};
			}
			push @p, "body: money.amount \"$m->{amount}\" is not a decimal amount such as \"1500\" or \"12.50\""
			  if defined $m->{amount} && !ref $m->{amount} && $m->{amount} !~ /^[0-9]+(\.[0-9]+)?$/;
		}
		for my $k (qw(customerReference serviceProviderUserName))
		{
			push @p, "body: $k is empty" if defined $json->{$k} && !ref $json->{$k} && $json->{$k} eq '';
		}
	}
	# messages: at most 160 characters, never empty (500s in production), no
	# apostrophe (400) (README, "Bodies"; the definition says "Max length 160"
	# of notificationMessage only)
	# (an invoice's description and a payment's receiverMessage and senderNote
	# go to a history as messages do: momo holds them to the same rules)
	for my $k (qw(payerMessage payeeNote notificationMessage description receiverMessage senderNote))
	{
		next unless exists $json->{$k} && defined $json->{$k} && !ref $json->{$k};
		my $v = $json->{$k};
		push @p, "body: $k is empty (README: omit it instead)" if $v eq '';
		push @p, "body: $k is longer than 160 characters (" . length($v) . ")" if length $v > 160;
		push @p, "body: $k contains an apostrophe (README: MTN answers 400)" if $v =~ /'/;
	}
	return @p;
}

sub _schema_has
{
	my ($op, $prop) = @_;
	my $s = _deref($op->{doc}, $op->{schema});
	return ref $s eq 'HASH' && ref $s->{properties} eq 'HASH' && exists $s->{properties}{$prop};
}

sub _type_of
{
	my ($v) = @_;
	return 'null' unless defined $v;
	return 'boolean' if JSON::PP::is_bool($v);
	return 'object' if ref $v eq 'HASH';
	return 'array' if ref $v eq 'ARRAY';
	# JSON::PP gives numbers without quotes a numeric flag
	my $b = B::svref_2object(\$v);
	my $flags = $b->FLAGS;
	return ($flags & (B::SVf_IOK() | B::SVf_NOK())) && !($flags & B::SVf_POK()) ? 'number' : 'string';
}

# The JSON-Schema subset: type, properties, required, enum, format uuid,
# maxLength, $ref, additionalProperties (when stated), items.  $refund
# ('refund') adds referenceIdToRefund to a transfer's schema, and
# ('cashtransfer') the originating side of a cash transfer (see %BORROW).
my @CASH_TRANSFER_MEMBERS = qw(orginatingCountry originalAmount originalCurrency payerIdentificationType
  payerIdentificationNumber payerIdentity payerFirstName payerSurName payerLanguageCode payerEmail
  payerMsisdn payerGender);
sub _validate
{
	my ($doc, $schema, $v, $where, $refund) = @_;
	my @p;
	$schema = _deref($doc, $schema);
	return @p unless ref $schema eq 'HASH';
	my $props = { %{ $schema->{properties} || {} } };
	my @required = @{ $schema->{required} || [] };
	if (($refund // '') eq 'cashtransfer' && $where eq 'body')
	{
		# README, "Bodies", and MTN's CashTransfer: every member a string
		$props->{$_} = { type => 'string' } for @CASH_TRANSFER_MEMBERS;
	}
	if (($refund // '') eq 'refund' && $where eq 'body')
	{
		# README, "Bodies": "refund adds referenceIdToRefund" (a UUID)
		$props->{referenceIdToRefund} = { type => 'string', format => 'uuid' };
		push @required, 'referenceIdToRefund';
	}
	my $t = $schema->{type};
	$t = 'object' if !defined $t && $schema->{properties};
	my $have = _type_of($v);
	if (defined $t)
	{
		my $ok = $t eq $have
		  || ($t eq 'integer' && $have eq 'number' && $v == int($v))
		  || ($t eq 'number' && $have eq 'number');
		if (!$ok)
		{
			push @p, "$where is $have, not $t";
			return @p;
		}
	}
	if (defined $schema->{enum})
	{
		push @p, "$where \"" . ($v // 'null') . "\" is not one of (@{ $schema->{enum} })"
		  unless grep { defined $v && !ref $v && $_ eq $v } @{ $schema->{enum} };
	}
	if ($have eq 'string')
	{
		push @p, "$where \"$v\" is not a UUID" if ($schema->{format} // '') eq 'uuid' && $v !~ $UUID;
		push @p, "$where is longer than $schema->{maxLength} characters"
		  if defined $schema->{maxLength} && length $v > $schema->{maxLength};
	}
	if ($have eq 'object')
	{
		for my $k (@required)
		{
			push @p, "$where.$k is missing (required)" unless exists $v->{$k};
		}
		for my $k (sort keys %$v)
		{
			if (exists $props->{$k})
			{
				push @p, _validate($doc, $props->{$k}, $v->{$k}, "$where.$k");
			}
			elsif (exists $schema->{additionalProperties})
			{
				my $ap = $schema->{additionalProperties};
				if (ref $ap eq 'HASH')
				{
					push @p, _validate($doc, $ap, $v->{$k}, "$where.$k");
				}
				elsif (!$ap)
				{
					push @p, "$where.$k is not a member the definition allows";
				}
			}
			else
			{
				# the definitions do not say whether other members are allowed;
				# a member they do not name is still a mistake of ours
				push @p, "$where.$k is not a member of the definition";
			}
		}
	}
	if ($have eq 'array' && $schema->{items})
	{
		my $i = 0;
		push @p, _validate($doc, $schema->{items}, $_, $where . '[' . $i++ . ']') for @$v;
	}
	return @p;
}

1;

#Requires -Version 7.2
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Make a real Windows DPAPI fixture for `cursor-byok rescue`: a local account's master keys, a Cursor-like
    `Local State` and a `v10` row, as an old machine's backup would hold them.

.DESCRIPTION
    Run once, in PowerShell 7 as an administrator, on a throwaway Windows VM (never a machine you use):
        pwsh -ExecutionPolicy Bypass -File scripts\windows\make-rescue-fixture.ps1 -OutDir C:\rescue-fixture
    1. Creates the local test account (or uses it if it exists) with the given password.
    2. Starts a PowerShell as that account (its profile loaded, so DPAPI makes its master key) which
       protects a fresh random 32-byte key with ProtectedData.Protect (CurrentUser, no entropy), as Cursor
       does, writes it into a `Local State` file, and encrypts a made-up key as a Cursor `v10` row:
       "v10" + 12-byte nonce + AES-256-GCM ciphertext + 16-byte tag.
    3. Copies that `Local State`, the row and AppData\Roaming\Microsoft\Protect\<SID>\* into -OutDir, with a
       README.md naming the account, SID, password and Windows build.
    Commit the folder under tests/fixtures/rescue/dpapi/ with a PROVENANCE.md. The password is a test
    password for a test account; never run this with a real one.
#>
param(
    [string]$OutDir = (Join-Path $PWD 'rescue-fixture'),
    [string]$UserName = 'byokrescue',
    [string]$Password = 'Rescue-Fixture-Pass-1!'
)
$ErrorActionPreference = 'Stop'

# 1. The local test account, a member of Users (by SID, whatever the display language).
if (-not (Get-LocalUser -Name $UserName -ErrorAction SilentlyContinue)) {
    $secure = ConvertTo-SecureString $Password -AsPlainText -Force
    New-LocalUser -Name $UserName -Password $secure -PasswordNeverExpires -Description 'cursor-byok rescue fixture' |
        Out-Null
    Add-LocalGroupMember -SID 'S-1-5-32-545' -Member $UserName
}
$sid = [Security.Principal.NTAccount]::new($UserName).Translate([Security.Principal.SecurityIdentifier]).Value

# 2. As the test user: protect a fresh key, write Local State and a v10 row into its own LocalAppData,
#    then copy its Protect\<SID> folder there (the user can always read it; an administrator may not).
$stage2 = @'
$ErrorActionPreference = 'Stop'
Add-Type -AssemblyName System.Security.Cryptography.ProtectedData  # PowerShell 7 ships this assembly
# Known folders from the process token, not from environment variables a started process may inherit.
$dir = Join-Path ([Environment]::GetFolderPath('LocalApplicationData')) 'byok-rescue-fixture'
New-Item -ItemType Directory -Force -Path (Join-Path $dir 'Protect') | Out-Null
$key = [Security.Cryptography.RandomNumberGenerator]::GetBytes(32)
$scope = [Security.Cryptography.DataProtectionScope]::CurrentUser
$blob = [Security.Cryptography.ProtectedData]::Protect($key, $null, $scope)  # no entropy, as Cursor
[byte[]]$wrapped = [Text.Encoding]::ASCII.GetBytes('DPAPI') + $blob
$state = @{ os_crypt = @{ encrypted_key = [Convert]::ToBase64String($wrapped) } } | ConvertTo-Json -Compress
[IO.File]::WriteAllText((Join-Path $dir 'Local State'), $state)
$plain = [Text.Encoding]::UTF8.GetBytes('sk-made-up-cursor-byok-windows-fixture-0001')
$nonce = [Security.Cryptography.RandomNumberGenerator]::GetBytes(12)
$cipher = [byte[]]::new($plain.Length); $tag = [byte[]]::new(16)
$gcm = [Security.Cryptography.AesGcm]::new($key)
$gcm.Encrypt($nonce, $plain, $cipher, $tag)
[byte[]]$row = [Text.Encoding]::ASCII.GetBytes('v10') + $nonce + $cipher + $tag
[IO.File]::WriteAllBytes((Join-Path $dir 'v10-row.bin'), $row)
$digest = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($key)).ToLower()
[IO.File]::WriteAllText((Join-Path $dir 'key-sha256.txt'), $digest)
$me = [Security.Principal.WindowsIdentity]::GetCurrent().User.Value
$protect = Join-Path ([Environment]::GetFolderPath('ApplicationData')) "Microsoft\Protect\$me"
Get-ChildItem -LiteralPath $protect -Force -File |
    Copy-Item -Destination (Join-Path $dir 'Protect') -Force
'@
$encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($stage2))
$credential = [pscredential]::new(".\$UserName", (ConvertTo-SecureString $Password -AsPlainText -Force))
$child = Start-Process -FilePath (Join-Path $PSHOME 'pwsh.exe') -Credential $credential -LoadUserProfile `
    -Wait -PassThru -WorkingDirectory $env:SystemRoot `
    -ArgumentList '-NoProfile', '-NonInteractive', '-EncodedCommand', $encoded
if ($child.ExitCode -ne 0) { throw "the step run as $UserName failed (exit code $($child.ExitCode))" }

# 3. Gather the files from the test user's LocalAppData (administrators can read user profiles).
$profilePath = (Get-CimInstance Win32_UserProfile | Where-Object { $_.SID -eq $sid }).LocalPath
$made = Join-Path $profilePath 'AppData\Local\byok-rescue-fixture'
New-Item -ItemType Directory -Force -Path (Join-Path $OutDir "Protect\$sid") | Out-Null
Copy-Item -LiteralPath (Join-Path $made 'Local State'), (Join-Path $made 'v10-row.bin') -Destination $OutDir
Get-ChildItem -LiteralPath (Join-Path $made 'Protect') -Force -File |
    Copy-Item -Destination (Join-Path $OutDir "Protect\$sid") -Force
$os = Get-CimInstance Win32_OperatingSystem
@"
# Real Windows DPAPI fixture: a local account, made by scripts/windows/make-rescue-fixture.ps1

- Windows: $($os.Caption), version $($os.Version), build $($os.BuildNumber); made $(Get-Date -Format 'yyyy-MM-dd')
- Account: local, ``$UserName``, SID ``$sid``, password ``$Password`` (a test account on a throwaway VM)
- ``Local State``: os_crypt.encrypted_key = base64("DPAPI" + ProtectedData.Protect(key, no entropy, CurrentUser))
- SHA-256 of the 32-byte key: $(Get-Content -Raw (Join-Path $made 'key-sha256.txt'))
- ``v10-row.bin``: "v10" + nonce + AES-256-GCM of ``sk-made-up-cursor-byok-windows-fixture-0001`` + tag
- ``Protect/$sid/``: every file of the account's AppData\Roaming\Microsoft\Protect\$sid (master keys, Preferred)
"@ | Set-Content -LiteralPath (Join-Path $OutDir 'README.md') -Encoding utf8NoBOM
Remove-Item -LiteralPath $made -Recurse -Force
Write-Host "Fixture written to $OutDir (SID $sid). Delete the test account when done: Remove-LocalUser $UserName"

# Independent derivation of the Stratos wallet test vector (pure Python stdlib, no JS code involved).
import hashlib, hmac, sys
# --- keccak-f[1600] ---
RC=[0x0000000000000001,0x0000000000008082,0x800000000000808A,0x8000000080008000,0x000000000000808B,0x0000000080000001,0x8000000080008081,0x8000000000008009,0x000000000000008A,0x0000000000000088,0x0000000080008009,0x000000008000000A,0x000000008000808B,0x800000000000008B,0x8000000000008089,0x8000000000008003,0x8000000000008002,0x8000000000000080,0x000000000000800A,0x800000008000000A,0x8000000080008081,0x8000000000008080,0x0000000080000001,0x8000000080008008]
ROT=[[0,36,3,41,18],[1,44,10,45,2],[62,6,43,15,61],[28,55,25,21,56],[27,20,39,8,14]]
M=(1<<64)-1
def rol(x,n): return ((x<<n)|(x>>(64-n)))&M if n else x
def f(A):
    for rc in RC:
        C=[A[x][0]^A[x][1]^A[x][2]^A[x][3]^A[x][4] for x in range(5)]
        D=[C[(x-1)%5]^rol(C[(x+1)%5],1) for x in range(5)]
        A=[[A[x][y]^D[x] for y in range(5)] for x in range(5)]
        B=[[0]*5 for _ in range(5)]
        for x in range(5):
            for y in range(5): B[y][(2*x+3*y)%5]=rol(A[x][y],ROT[x][y])
        A=[[B[x][y]^((~B[(x+1)%5][y])&B[(x+2)%5][y]) for y in range(5)] for x in range(5)]
        A[0][0]^=rc
    return A
def sponge(data, pad, rate=136, outlen=32):
    p=bytearray(data); p.append(pad)
    while len(p)%rate: p.append(0)
    p[-1]|=0x80
    A=[[0]*5 for _ in range(5)]
    for off in range(0,len(p),rate):
        blk=p[off:off+rate]
        for i in range(rate//8):
            x,y=i%5,i//5; A[x][y]^=int.from_bytes(blk[8*i:8*i+8],'little')
        A=f(A)
    out=b''.join(A[i%5][i//5].to_bytes(8,'little') for i in range(25))
    return out[:outlen]
keccak256=lambda d: sponge(d,0x01)
# self-checks: same permutation with SHA-3 padding must equal hashlib.sha3_256; known keccak256("")
for m in [b'',b'abc',b'x'*200]: assert sponge(m,0x06)==hashlib.sha3_256(m).digest()
assert keccak256(b'').hex()=='c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470'
# --- secp256k1 ---
P=2**256-2**32-977; N=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G=(0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)
def add(a,b):
    if a is None: return b
    if b is None: return a
    if a[0]==b[0] and (a[1]+b[1])%P==0: return None
    l=((3*a[0]*a[0])*pow(2*a[1],-1,P) if a==b else (b[1]-a[1])*pow(b[0]-a[0],-1,P))%P
    x=(l*l-a[0]-b[0])%P; return (x,(l*(a[0]-x)-a[1])%P)
def mul(k,pt=G):
    r=None
    while k:
        if k&1: r=add(r,pt)
        pt=add(pt,pt); k>>=1
    return r
def ser_c(pt): return bytes([2+(pt[1]&1)])+pt[0].to_bytes(32,'big')
# --- bech32 (BIP-173) ---
CS='qpzry9x8gf2tvdw0s3jn54khce6mua7l'
def polymod(v):
    g=[0x3b6a57b2,0x26508e6d,0x1ea119fa,0x3d4233dd,0x2a1462b3]; c=1
    for x in v:
        b=c>>25; c=((c&0x1ffffff)<<5)^x
        for i in range(5): c^=g[i] if (b>>i)&1 else 0
    return c
def bech32(hrp,data8):
    acc=bits=0; w=[]
    for b in data8:
        acc=(acc<<8)|b; bits+=8
        while bits>=5: bits-=5; w.append((acc>>bits)&31)
    if bits: w.append((acc<<(5-bits))&31)
    hx=[ord(c)>>5 for c in hrp]+[0]+[ord(c)&31 for c in hrp]
    pm=polymod(hx+w+[0]*6)^1
    return hrp+'1'+''.join(CS[d] for d in w+[(pm>>5*(5-i))&31 for i in range(6)])
# BIP-173 reference vector check: segwit not needed; check a checksum from the spec instead
assert polymod([ord(c)>>5 for c in 'a']+[0]+[ord(c)&31 for c in 'a']+[CS.index(c) for c in '2uel5l'])==1
def address(priv):
    pt=mul(priv); unc=pt[0].to_bytes(32,'big')+pt[1].to_bytes(32,'big')
    return bech32('st',keccak256(unc)[12:]), pt
# --- BIP-39 seed + BIP-32 path ---
mn=' '.join(['abandon']*11+['about'])
seed=hashlib.pbkdf2_hmac('sha512',mn.encode(),b'mnemonic',2048)
I=hmac.new(b'Bitcoin seed',seed,hashlib.sha512).digest(); k=int.from_bytes(I[:32],'big'); c=I[32:]

for idx in [44+2**31,606+2**31,0+2**31,0,0]:
    data=(b'\x00'+k.to_bytes(32,'big') if idx>=2**31 else ser_c(mul(k)))+idx.to_bytes(4,'big')
    I=hmac.new(c,data,hashlib.sha512).digest(); k=(int.from_bytes(I[:32],'big')+k)%N; c=I[32:]
addr,pt=address(k)
print('mnemonic privkey', k.to_bytes(32,'big').hex())
print('mnemonic address', addr)
print('mnemonic pubkey compressed', ser_c(pt).hex())
raw=int(sys.argv[1],16) if len(sys.argv)>1 else 1
a2,_=address(raw); print('raw',hex(raw),a2)

// The checks happen at compile time (each header in its own translation unit); this program
// only has to link and run.
int main() {
  return 0;
}

/* Placeholder: skipped until its module lands. */
int
main(void)
{
	return 77;
}
